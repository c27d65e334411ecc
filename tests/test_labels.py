"""`extractor label`: a diverse sample, labelled by a teacher, incremental, reviewable, importable."""

from __future__ import annotations

import json
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from extractor.api import read
from extractor.engines.fake import FakeEngine
from extractor.errors import ConfigError
from extractor.finetune.data import load_labelled
from extractor.labels import import_corrections, label, read_labels
from extractor.labels.sample import Candidate, clusters, diverse_order, opening_shingles
from extractor.schema import load_schema

SMALL = str(Path(__file__).with_name("small_schema.py")) + ":Small"
SENDERS = {"acme.com": 6, "globex.org": 3, "initech.net": 1}
TEMPLATES = {
    "acme.com": "Order confirmation\nThank you for your order {n} placed with ACME. Reference R-{n}. Due: {n}.50 EUR",
    "globex.org": "GLOBEX monthly statement for account {n}\nReference R-{n}\nBalance carried forward {n}.50",
    "initech.net": "Hi, quick note about the TPS reports, reference R-{n}, amount {n}.50 as discussed",
}


def _inbox(folder: Path) -> Path:
    folder.mkdir(parents=True)
    n = 100
    for domain, count in SENDERS.items():
        for i in range(count):
            n += 1
            msg = EmailMessage()
            msg["From"] = f"billing{i}@{domain}"
            msg["To"] = "me@example.com"
            msg["Subject"] = f"Document {n}"
            msg.set_content(TEMPLATES[domain].format(n=n))
            (folder / f"{domain}-{i}.eml").write_bytes(msg.as_bytes())
    (folder / "notes.txt").write_text("Reference R-999 amount 999.50 on a plain note")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 this is not a pdf")
    return folder


class Teacher:
    """A fake teacher that copies the reference and amount it finds; counts what it was asked."""

    def __init__(self) -> None:
        self.asked = 0

    def engine(self, name: str, model: str | None, **options: Any) -> FakeEngine:
        return FakeEngine(respond=self.answer, model_id="teacher-1")

    def answer(self, prompt: Any) -> str:
        self.asked += 1
        text = json.dumps(prompt)
        ref = re.search(r"R-(\d+)", text)
        return json.dumps(
            {
                "ref": f"R-{ref.group(1)}" if ref else None,
                "amount": f"{ref.group(1)}.50" if ref else None,
                "ratio": None,
                "day": None,
                "at": None,
                "paid": None,
                "kind": "a",
                "tags": [],
                "items": [],
            }
        )


@pytest.fixture
def teacher(monkeypatch: pytest.MonkeyPatch) -> Teacher:
    from extractor.engines import base

    t = Teacher()
    monkeypatch.setattr(base, "lazy_engine", t.engine)
    return t


def test_templates_of_one_sender_cluster_together_and_others_apart() -> None:
    def cand(name: str, key: str, text: str) -> Candidate:
        return Candidate(Path(name), name, key, opening_shingles(text))

    a = [cand(f"a{i}", "email acme.com", TEMPLATES["acme.com"].format(n=100 + i * 37)) for i in range(4)]
    b = cand("b", "email acme.com", "Dear customer, your password reset link expires in 24 hours. Regards, ACME")
    c = cand("c", "email globex.org", TEMPLATES["acme.com"].format(n=5))  # same words, another sender
    grouped = clusters([*a, b, c])
    assert sorted(len(m) for m in grouped.values()) == [1, 1, 4]
    order = [cluster for cluster, _ in diverse_order(grouped, seed=1)]
    assert len(set(order[:3])) == 3  # every cluster once before any twice
    assert order[0] == next(name for name, members in grouped.items() if len(members) == 4)  # largest first
    done = diverse_order(grouped, seed=1, labelled={"b", "c"})  # those clusters are covered already
    assert [c.doc_id for _, c in done][:1] != ["b"] and {c.doc_id for _, c in done} == {x.doc_id for x in a}


def test_label_covers_every_sender_first_and_reruns_add_without_duplicates(tmp_path: Path, teacher: Teacher) -> None:
    inbox, out, schema = _inbox(tmp_path / "inbox"), tmp_path / "labels", load_schema(SMALL)
    first = label([inbox], schema, out, n=4, teacher="fake")
    labels = read_labels(out, schema)
    assert first.added == 4 and len(labels) == 4 and first.clusters == 4  # 3 senders and the note
    assert first.clusters_covered == 4 and len({label.cluster for label in labels.values()}) == 4
    assert first.not_parsed and first.not_parsed[0][0].endswith("broken.pdf")
    errors = read(out / "teacher", schema.name, errors=True)
    assert list(errors["source_path"].map(lambda p: Path(p).name)) == ["broken.pdf"]  # an error row, not a label
    for item in labels.values():  # the teacher's value, its evidence in the kept text, the teacher's name
        text = (out / "documents" / f"{item.doc_id}.txt").read_text()
        assert item.fields["ref"] in text and item.teacher == "teacher-1" and not item.reviewed
        ref = next(e for e in item.evidence if e["field"] == "ref")
        assert text[ref["start"] : ref["end"]] == item.fields["ref"] and item.confidence.get("ref") is None

    asked = teacher.asked
    again = label([inbox], schema, out, n=4, teacher="fake")
    assert again.added == 0 and teacher.asked == asked and read_labels(out, schema) == labels

    more = label([inbox], schema, out, n=7, teacher="fake")
    after = read_labels(out, schema)
    assert more.added == 3 and len(after) == 7 and labels.items() <= after.items()
    trained = load_labelled(out, "train", schema)  # the format fine-tuning reads
    assert len(trained.items) == 7 and all(item.path.is_file() for item in trained.items)


def test_reviewed_labels_are_imported_checked_and_never_overwritten(tmp_path: Path, teacher: Teacher) -> None:
    inbox, out, schema = _inbox(tmp_path / "inbox"), tmp_path / "labels", load_schema(SMALL)
    label([inbox], schema, out, n=3, teacher="fake")
    lines = [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]
    lines[0].update(reviewed=True, reviewed_by="ana", fields={**lines[0]["fields"], "ref": "FIXED"})
    saved = tmp_path / "labels.corrected.jsonl"
    saved.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert import_corrections(out, saved, schema) == (1, 2)
    fixed = read_labels(out, schema)[lines[0]["doc_id"]]
    assert fixed.fields["ref"] == "FIXED" and fixed.reviewed and fixed.reviewed_by == "ana" and fixed.reviewed_at

    label([inbox], schema, out, n=6, teacher="fake")
    assert read_labels(out, schema)[lines[0]["doc_id"]] == fixed

    bad = dict(lines[1], reviewed=True, fields={**lines[1]["fields"], "ref": "far too long a reference"})
    saved.write_text(json.dumps(lines[0]) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(ConfigError, match=r"labels.corrected.jsonl:2: field ref: String should have at most 8"):
        import_corrections(out, saved, schema)
    saved.write_text("{not json\n")
    with pytest.raises(ConfigError, match=r":1: not JSON"):
        import_corrections(out, saved, schema)
    assert read_labels(out, schema)[lines[0]["doc_id"]] == fixed  # a refused file changes nothing


def test_a_changed_schema_is_named_and_relabel_keeps_valid_reviewed_labels(tmp_path: Path, teacher: Teacher) -> None:
    inbox, out = _inbox(tmp_path / "inbox"), tmp_path / "labels"
    label([inbox], load_schema(SMALL), out, n=3, teacher="fake")
    lines = [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]
    saved = tmp_path / "saved.jsonl"
    saved.write_text(json.dumps(dict(lines[0], reviewed=True)) + "\n")
    import_corrections(out, saved, load_schema(SMALL))
    changed = tmp_path / "small_v2.py"
    source = Path(SMALL.rpartition(":")[0]).read_text()
    changed.write_text(source.replace('description="A reference"', 'description="The order reference"'))
    v2 = load_schema(f"{changed}:Small")
    assert v2.name == "small" and v2.fingerprint != load_schema(SMALL).fingerprint
    with pytest.raises(ConfigError, match=r"another version of schema 'small'.*--relabel"):
        label([inbox], v2, out, n=3, teacher="fake")
    with pytest.raises(ConfigError, match="schema changed since labelling"):
        import_corrections(out, saved, v2)
    result = label([inbox], v2, out, n=3, teacher="fake", relabel=True)
    relabelled = read_labels(out, v2)
    assert result.dropped == 2 and result.added == 2 and len(relabelled) == 3
    assert relabelled[lines[0]["doc_id"]].reviewed
    assert all(x.schema_fingerprint == v2.fingerprint for x in relabelled.values())


def test_a_missing_teacher_is_a_configuration_error_before_any_document_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, out = _inbox(tmp_path / "inbox"), tmp_path / "labels"
    with pytest.raises(ConfigError, match="no teacher model"):
        label([inbox], load_schema(SMALL), out, n=3)  # tests see no pulled model (conftest)
    with pytest.raises(ConfigError, match="model not found"):
        label([inbox], load_schema(SMALL), out, n=3, teacher=str(tmp_path / "no-such-model.gguf"))
    assert not out.exists()


def test_a_student_is_distilled_from_reviewed_labels_and_runs_use_it_without_flags(
    tmp_path: Path, teacher: Teacher, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from extractor.cli import app
    from extractor.engines import model_store

    monkeypatch.setenv("EXTRACTOR_ADAPTERS_DIR", str(tmp_path / "adapters"))
    inbox, out, schema = _inbox(tmp_path / "inbox"), tmp_path / "labels", load_schema(SMALL)
    label([inbox], schema, out, n=7, teacher="fake")
    lines = [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]
    saved = tmp_path / "saved.jsonl"
    saved.write_text("".join(json.dumps(dict(line, reviewed=True)) + "\n" for line in lines[:2]))
    import_corrections(out, saved, schema, reviewer="ana")
    args = ["finetune", "-s", SMALL, "--train", str(out), "--model", str(tiny_model_dir), "--epochs", "1"]
    args += ["--batch-size", "2", "--rank", "2", "--target-modules", "q_proj,v_proj", "--dev-limit", "1"]
    args += ["--max-new-tokens", "40"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    folder = model_store.adapter_folder(schema.name, schema.fingerprint)
    card = json.loads((folder / "card.json").read_text())
    labelled = card["data"]["labelled"]
    assert labelled["reviewed"] == 2 and labelled["reviewed_by"] == ["ana"] and labelled["unreviewed_used"] == 0
    assert labelled["teachers"] == ["teacher-1"] and labelled["train"] + labelled["dev"] == 2
    assert model_store.model_for(None, schema.name, schema.fingerprint) == str(folder)  # found by fingerprint
    assert model_store.model_for(None, schema.name, "0" * 16) is None  # not for another version of the schema

    everything = CliRunner().invoke(app, [*args, "--unreviewed-above", "0"])
    assert everything.exit_code == 0, everything.output
    card = json.loads((folder / "card.json").read_text())
    assert card["data"]["labelled"]["unreviewed_used"] == 5 and card["data"]["train"]["documents"] == 6
    none_reviewed = tmp_path / "fresh"
    label([inbox], schema, none_reviewed, n=3, teacher="fake")
    refused = CliRunner().invoke(app, ["finetune", "-s", SMALL, "--train", str(none_reviewed)])
    said = " ".join(refused.output.split())  # the console wraps long lines
    assert refused.exit_code == 2 and "0 reviewed of 3" in said and "--unreviewed-above 0" in said


def test_label_command_writes_labels_and_the_review_page_and_imports_what_it_saves(
    tmp_path: Path, teacher: Teacher
) -> None:
    from typer.testing import CliRunner

    from extractor.cli import app

    inbox, out = _inbox(tmp_path / "inbox"), tmp_path / "labels"
    base = ["label", "-s", SMALL, "-o", str(out)]
    made = CliRunner().invoke(app, [*base[:1], str(inbox), *base[1:], "--model", "fake", "--n", "3", "-q"])
    assert made.exit_code == 0, made.output
    said = " ".join(made.output.split())
    assert "3 labels added" in said and "cover 3 of 4 clusters" in said and "values left to review" in said
    assert (out / "review.html").is_file() and len((out / "labels.jsonl").read_text().splitlines()) == 3
    line = json.loads((out / "labels.jsonl").read_text().splitlines()[0])
    saved = tmp_path / "labels.corrected.jsonl"
    saved.write_text(json.dumps(dict(line, reviewed=True, fields={**line["fields"], "ref": "R-1"})) + "\n")
    merged = CliRunner().invoke(app, [*base, "--import", str(saved), "--reviewer", "bo"])
    assert merged.exit_code == 0 and "1 reviewed labels merged" in merged.output, merged.output
    assert read_labels(out)[line["doc_id"]].reviewed_by == "bo"
    nothing = CliRunner().invoke(app, base)
    assert nothing.exit_code == 2 and "give the documents to label" in nothing.output


def test_a_hand_edited_label_the_schema_refuses_is_named_by_line_and_field(tmp_path: Path, teacher: Teacher) -> None:
    from extractor.labels.training import training_split

    inbox, out, schema = _inbox(tmp_path / "inbox"), tmp_path / "labels", load_schema(SMALL)
    label([inbox], schema, out, n=3, teacher="fake")
    lines = (out / "labels.jsonl").read_text().splitlines()
    edited = json.loads(lines[1])
    edited["fields"]["day"] = "the second of May"
    lines[1] = json.dumps(edited)
    (out / "labels.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"labels.jsonl:2: field day: Input should be a valid date"):
        training_split(out, schema, unreviewed_above=0)
