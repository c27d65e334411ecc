from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from extractor.cli import app
from extractor.evaluation import Case, evaluate, score
from extractor.pipeline import RunResult
from extractor.schema import load_schema
from extractor.types import ErrorInfo, Provenance, Record, Stage, Status

INVOICE = load_schema("invoice")
GOLD = {
    "invoice_number": "INV-1",
    "issuer": "Acme Ltd",
    "total": "100.00",
    "invoice_date": "2024-03-01",
    "currency": None,
    "line_items": [
        {"description": "Pens", "quantity": "2", "unit_price": "5.00", "amount": "10.00"},
        {"description": "Ink", "quantity": "1", "unit_price": "90.00", "amount": "90.00"},
    ],
}


def _score(*cases: Case):  # type: ignore[no-untyped-def]
    return score(cases, INVOICE.fields)


def test_perfect_prediction_after_normalisation() -> None:
    predicted = {
        **GOLD,
        "invoice_number": " inv-1 ",
        "issuer": "ACME  LTD",
        "total": Decimal("100.004"),
        "invoice_date": "2024-03-01",
        "line_items": list(reversed(GOLD["line_items"])),
    }
    s = _score(Case(GOLD, predicted))
    assert s.all_correct == 1 and s.macro_f1 == 1.0
    assert all(f.f1 == 1.0 and f.exact_match == 1.0 for f in s.fields.values())
    assert set(s.fields) == set(GOLD)  # only labelled fields are scored


def test_partly_wrong_prediction_counts() -> None:
    predicted = {
        **GOLD,
        "issuer": "Other Ltd",
        "total": "100.02",
        "currency": "EUR",
        "invoice_number": None,
        "line_items": [
            GOLD["line_items"][0],
            {"description": "Paper", "quantity": "1", "unit_price": "1", "amount": "1"},
            GOLD["line_items"][0],
        ],
    }
    s = _score(Case(GOLD, predicted))
    f = s.fields
    assert (f["issuer"].tp, f["issuer"].fp, f["issuer"].fn) == (0, 1, 1)  # wrong value: a false positive and a miss
    assert (f["total"].tp, f["total"].fp, f["total"].fn) == (0, 1, 1)  # 0.02 is over the 0.01 tolerance
    assert (f["currency"].fp, f["currency"].fn, f["currency"].exact) == (1, 0, 0)  # invented where gold is null
    assert (f["invoice_number"].fn, f["invoice_number"].fp) == (1, 0)
    items = f["line_items"]
    assert (items.tp, items.fp, items.fn, items.exact) == (1, 2, 1, 0)  # multiset: the duplicate is extra
    assert items.precision == pytest.approx(1 / 3) and items.recall == pytest.approx(1 / 2)
    assert s.all_correct == 0
    assert f["invoice_date"].f1 == 1.0


def test_error_rows_and_missing_documents_are_misses() -> None:
    s = _score(Case(GOLD, GOLD), Case(GOLD, None, failed=True), Case(GOLD, None))
    assert (s.documents, s.predicted, s.failed, s.missing) == (3, 1, 1, 1)
    total = s.fields["total"]
    assert (total.tp, total.fn, total.exact, total.documents) == (1, 2, 1, 3)
    assert total.recall == pytest.approx(1 / 3) and total.precision == 1.0
    assert s.fields["line_items"].fn == 4
    assert s.fields["currency"].exact == 1  # null gold: right only where there was a row saying null
    assert s.all_correct_rate == pytest.approx(1 / 3)


def test_scores_are_broken_down_by_layout_family() -> None:
    wrong_total = {**GOLD, "total": "99.00"}
    s = _score(
        Case(GOLD, GOLD, family="letter"),
        Case(GOLD, wrong_total, family="statement"),
        Case(GOLD, GOLD, family="letter"),
    )
    assert set(s.families) == {"letter", "statement"}
    assert s.families["letter"].documents == 2 and s.families["letter"].fields["total"].f1 == 1.0
    assert s.families["statement"].fields["total"].f1 == 0.0 and s.families["statement"].fields["issuer"].f1 == 1.0
    assert s.families["statement"].micro_f1 < s.micro_f1 < s.families["letter"].micro_f1 == 1.0
    assert not _score(Case(GOLD, GOLD, family="letter")).families  # one family: nothing to break down


def test_empty_prediction() -> None:
    empty = {name: None for name in GOLD} | {"line_items": []}
    s = _score(Case(GOLD, empty))
    assert s.fields["total"].f1 == 0.0 and s.fields["currency"].f1 == 1.0 and s.fields["currency"].exact == 1


PROV = Provenance(
    model_id="m",
    schema_name="invoice",
    schema_fingerprint=INVOICE.fingerprint,
    extracted_at="2024-01-01T00:00:00+00:00",
)


def _predictions(tmp_path: Path, labels: list[dict], wrong_total: bool = False) -> Path:
    """A run's output made from the labels themselves: rows for all but the last, an error row for it."""
    records = []
    for label in labels[:-1]:
        data = INVOICE.model.model_validate(label["fields"]).model_dump()
        if wrong_total:
            data["total"] = Decimal("0.01")
        records.append(
            Record(
                source=str(tmp_path / "docs" / label["file"]),
                status=Status.OK,
                doc_id="x",
                kind="pdf",
                data=data,
                provenance=PROV,
            )
        )
    records.append(
        Record(
            source=str(tmp_path / "docs" / labels[-1]["file"]),
            status=Status.FAILED,
            error=ErrorInfo(Stage.PARSE, "CorruptInput", "bad"),
            provenance=PROV,
        )
    )
    out = tmp_path / ("run-b" if wrong_total else "run-a")
    RunResult(INVOICE, "m", records=records).write(out)
    return out


def _labels_file(tmp_path: Path) -> tuple[Path, list[dict]]:
    labels = [
        {
            "file": f"test/inv-{i}.pdf",
            "schema": "invoice",
            "split": "test",
            "family": "f" + str(i % 2),
            "fields": {**GOLD, "invoice_number": f"INV-{i}"},
        }
        for i in range(4)
    ]
    labels.append({"file": "train/x.pdf", "schema": "invoice", "split": "train", "family": "t", "fields": GOLD})
    path = tmp_path / "docs" / "labels.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(json.dumps(x) for x in labels))
    return path, labels


def test_evaluate_matches_rows_on_source_file(tmp_path: Path) -> None:
    labels_path, labels = _labels_file(tmp_path)
    test_labels = [x for x in labels if x["split"] == "test"]
    ev = evaluate(_predictions(tmp_path, test_labels), labels_path, split="test")
    s = ev.scores
    assert (s.documents, s.predicted, s.failed, s.missing) == (4, 3, 1, 0)
    assert s.fields["invoice_number"].tp == 3 and s.fields["invoice_number"].fn == 1
    assert s.all_correct == 3
    everything = evaluate(_predictions(tmp_path, test_labels), labels_path)
    assert everything.scores.missing == 1  # the train document was never run: a miss, not skipped


def test_an_output_folder_named_after_its_schema_is_read_as_the_output_folder(tmp_path: Path) -> None:
    """`extractor run ... --out out/invoice` makes out/invoice/invoice/: both paths mean that run."""
    labels_path, labels = _labels_file(tmp_path)
    test_labels = [x for x in labels if x["split"] == "test"]
    named = tmp_path / "invoice"
    _predictions(tmp_path, test_labels).rename(named)
    for path in (named, named / "invoice"):
        s = evaluate(path, labels_path, split="test").scores
        assert (s.predicted, s.failed, s.missing) == (3, 1, 0)


def test_eval_cli_writes_report_json_and_charts(tmp_path: Path) -> None:
    labels_path, labels = _labels_file(tmp_path)
    test_labels = [x for x in labels if x["split"] == "test"]
    good, bad = _predictions(tmp_path, test_labels), _predictions(tmp_path, test_labels, wrong_total=True)
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        ["eval", str(bad), "--labels", str(labels_path), "--split", "test", "--baseline", str(good), "--out", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    scores = json.loads((out / "scores.json").read_text())
    assert scores["fields"]["total"]["f1"] == 0.0 and scores["baseline"]["fields"]["total"]["f1"] > 0.85
    assert scores["error_rows"] == 1 and scores["documents"] == 4
    report = (out / "report.md").read_text()
    assert "| total |" in report and "Δ F1" in report
    for png in ("f1.png", "compare.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pq.read_table(good / "invoice").num_rows == 3


def test_labels_of_other_schemas_are_not_scored(tmp_path: Path) -> None:
    labels_path, labels = _labels_file(tmp_path)
    test_labels = [x for x in labels if x["split"] == "test"]
    other = {"file": "test/mail.eml", "schema": "customer_email", "split": "test", "fields": {"intent": "refund"}}
    with labels_path.open("a") as f:
        f.write("\n" + json.dumps(other))
    ev = evaluate(_predictions(tmp_path, test_labels), labels_path, split="test", schema="invoice")
    assert (ev.scores.documents, ev.scores.missing) == (4, 0)
