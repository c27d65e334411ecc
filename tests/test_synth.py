from __future__ import annotations

import json
from pathlib import Path

import pytest

from extractor.errors import ConfigError
from extractor.parse import parse_file
from extractor.synth import GENERATORS, families, generate

N = {"invoice": 16, "customer_email": 12, "project_report": 10}
AUGMENT = {"invoice": 8}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    roots = {}
    for schema in GENERATORS:
        roots[schema] = tmp_path_factory.mktemp(schema)
        generate(schema, N[schema], seed=7, out=roots[schema], augment=AUGMENT.get(schema, 0))
    return roots


def _labels(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "labels.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("schema", list(GENERATORS))
def test_same_seed_same_bytes_other_seed_other_bytes(schema: str, generated: dict[str, Path], tmp_path: Path) -> None:
    generate(schema, 4, seed=7, out=tmp_path / "again")
    generate(schema, 4, seed=8, out=tmp_path / "other")
    first = _labels(generated[schema])[:4]
    for label in first:
        assert (tmp_path / "again" / label["file"]).read_bytes() == (generated[schema] / label["file"]).read_bytes()
    assert _labels(tmp_path / "again") == first
    assert [x["fields"] for x in _labels(tmp_path / "other")] != [x["fields"] for x in first]


@pytest.mark.parametrize("schema", list(GENERATORS))
def test_every_family_produced_and_split_by_family(schema: str, generated: dict[str, Path]) -> None:
    labels = _labels(generated[schema])[: N[schema]]
    split_of = families(schema)
    assert {x["family"] for x in labels} == set(split_of)
    for x in labels:
        assert x["split"] == split_of[x["family"]] and x["file"].startswith(x["split"] + "/")
    train = {x["family"] for x in labels if x["split"] == "train"}
    test = {x["family"] for x in labels if x["split"] == "test"}
    assert test and train and not train & test


# Extractive fields whose printed form must appear in the text, up to case and whitespace (the
# evaluation's normalisation). Dates and amounts are printed in locale formats, so not substrings.
EXTRACTIVE = {
    "invoice": ["invoice_number", "issuer", "recipient"],
    "customer_email": ["customer_name", "customer_email", "order_reference"],
    "project_report": ["project_name", "organisation", "countries", "partners"],
}


@pytest.mark.parametrize("schema", list(GENERATORS))
def test_labels_are_findable_in_the_parsed_text(schema: str, generated: dict[str, Path]) -> None:
    for label in _labels(generated[schema]):
        text = " ".join(parse_file(generated[schema] / label["file"]).text.split()).casefold()
        for name in EXTRACTIVE[schema]:
            value = label["fields"][name]
            for item in value if isinstance(value, list) else [value]:
                if item is not None:
                    assert " ".join(str(item).split()).casefold() in text, (label["file"], name, item)


def test_augmenting_adds_randomised_training_documents_and_leaves_the_others_alone(
    generated: dict[str, Path], tmp_path: Path
) -> None:
    plain = tmp_path / "plain"
    generate("invoice", N["invoice"], seed=7, out=plain)
    augmented = _labels(generated["invoice"])
    assert augmented[: N["invoice"]] == _labels(plain)
    for label in _labels(plain):
        assert (plain / label["file"]).read_bytes() == (generated["invoice"] / label["file"]).read_bytes()
    extra = augmented[N["invoice"] :]
    assert len(extra) == AUGMENT["invoice"]
    assert {(x["family"], x["split"]) for x in extra} == {("randomised", "train")}
    # Drawn per document: the values come in many orders (a fixed layout gives one).
    orders = set()
    for x in extra:
        text = parse_file(generated["invoice"] / x["file"]).text
        f = x["fields"]
        keys = {"issuer": f["issuer"], "recipient": f["recipient"], "number": f["invoice_number"]}
        keys["line"] = f["line_items"][0]["description"]
        orders.add(tuple(sorted(keys, key=lambda k: text.find(keys[k]))))
    assert len(orders) >= 3
    # Nothing only a held-out family prints (their sentences) leaks into training documents.
    from extractor.synth.invoice import WORDS

    for x in extra:
        text = " ".join(parse_file(generated["invoice"] / x["file"]).text.split())
        for words in WORDS.values():
            assert words["pay"] not in text and words["charge"] not in text


def test_augmenting_a_generator_without_a_randomised_layout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="randomised"):
        generate("customer_email", 2, seed=7, out=tmp_path, augment=2)
