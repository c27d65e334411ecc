"""Grounded decoding: extractive values can only be spans of the document."""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from extractor.config import RunConfig
from extractor.extract.grammar import grounded_grammar
from extractor.extract.typed import date_order, parse_printed
from extractor.pipeline import run
from extractor.schema import FieldSpec, load_schema
from tests.small_schema import Small


class Spans(BaseModel):
    """Required extractive strings, so even a random model must copy something."""

    title: str = Field(max_length=30)
    ref: str = Field(max_length=12)
    words: list[str] = Field(default_factory=list, max_length=3)
    total: Decimal | None = Field(None, max_digits=8, decimal_places=2)
    kind: Literal["a", "b"] = "a"


WORDS = [
    "Invoice",
    "INV-7",
    "total",
    "12.50",
    "EUR",
    "2024-01-05",
    "due",
    "Acme",
    "Ltd",
    "ref",
    "x",
    "—",
    '"quoted"',
    "back\\slash",
    "ünïcode",
    "tab\there",
    "3",
    "pens",
    "a",
    "b",
]


def _random_docs(tmp_path: Path, count: int, seed: int) -> list[Path]:
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8))) for _ in range(rng.randint(1, 6))]
        path = tmp_path / f"doc{i}.txt"
        path.write_text("\n".join(lines), encoding="utf-8")
        paths.append(path)
    return paths


def test_random_model_only_ever_copies_spans(tiny_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    paths = _random_docs(tmp_path, 12, seed=3)
    config = RunConfig(decoding="grounded", batch_size=4, max_new_tokens=700, max_input_tokens=200)
    result = run(paths, load_schema(Spans), tiny_engine, config)
    assert all(r.ok for r in result.records), [r.error for r in result.records if not r.ok]
    spans = 0
    for record in result.records:
        text = Path(record.source).read_text(encoding="utf-8")
        assert record.provenance is not None and record.provenance.decoding == "grounded"
        for ev in record.evidence:
            if ev.grounded is None:  # abstractive fields are not searched, only scored
                assert ev.field == "kind" and 0.0 <= (ev.confidence or 0.0) <= 1.0
                continue
            if ev.field == "total" and ev.match == "normalised":  # a bare number: one the text prints
                assert ev.grounded and ev.text in text and Decimal(ev.text.replace(",", ".")) == record.data["total"]
                continue
            assert ev.grounded and ev.match == "exact"
            assert ev.text and ev.text in text, (ev, text)
            assert text[ev.start : ev.end] == ev.text  # offsets point at that exact text
            spans += 1
        assert record.data is not None
        flat = " ".join(text.split())
        for value in [record.data["title"], record.data["ref"], *record.data["words"]]:
            assert " ".join(value.split()) in flat
        assert record.data["kind"] in ("a", "b")  # abstractive fields keep their ordinary constraint
    assert spans >= 2 * len(paths)


def test_null_only_for_optional_fields() -> None:
    grammar = grounded_grammar(load_schema(Small), "some text")
    kind_rule = next(line for line in grammar.splitlines() if '"\\"a\\""' in line)
    assert "null" not in kind_rule  # `kind` is required: no null alternative
    assert sum('| "null"' in line for line in grammar.splitlines()) >= 5


@pytest.mark.parametrize(
    ("kind", "printed", "order", "expected"),
    [
        ("date", "2024-03-01", "DMY", dt.date(2024, 3, 1)),
        ("date", "01/03/2024", "DMY", dt.date(2024, 3, 1)),
        ("date", "03/01/2024", "MDY", dt.date(2024, 3, 1)),
        ("date", "1. März 2024", "DMY", dt.date(2024, 3, 1)),
        ("date", "1 mars 2024", "DMY", dt.date(2024, 3, 1)),
        ("date", "March 1, 2024", "DMY", dt.date(2024, 3, 1)),
        ("date", "15.02.2024", "DMY", dt.date(2024, 2, 15)),
        ("date", "Tuesday, 5 March 2024", "DMY", dt.date(2024, 3, 5)),
        ("date", "05-Mar-24", "DMY", dt.date(2024, 3, 5)),
        ("date", "25DEC2018", "DMY", dt.date(2018, 12, 25)),
        ("date", "2024/03/05", "DMY", dt.date(2024, 3, 5)),
        ("decimal", "1,234.56", "DMY", Decimal("1234.56")),
        ("decimal", "1.234,56", "DMY", Decimal("1234.56")),
        ("decimal", "1 234,56 EUR", "DMY", Decimal("1234.56")),
        ("decimal", "€ 12,5", "DMY", Decimal("12.50")),
        ("integer", "42", "DMY", 42),
    ],
)
def test_printed_values_are_typed_by_locale(kind: str, printed: str, order: str, expected: object) -> None:
    spec = FieldSpec("x", kind, decimal_places=2 if kind == "decimal" else None, extractive=True)  # type: ignore[arg-type]
    assert parse_printed(spec, printed, order) == (expected, "")


def test_unparseable_printed_value_is_null_with_a_reason() -> None:
    value, note = parse_printed(FieldSpec("d", "date", extractive=True), "Acme Ltd", "DMY")
    assert value is None and "not a date" in note
    value, note = parse_printed(FieldSpec("n", "integer", extractive=True), "2.5", "DMY")
    assert value is None and "whole number" in note
    # A number is no date, though dateparser reads long ones as Unix timestamps; nor is a date
    # relative to the day the document happens to be read.
    for printed in ("2018092011804", "1543622400", "20180305", "2 days ago", "yesterday"):
        value, note = parse_printed(FieldSpec("d", "date", extractive=True), printed, "DMY")
        assert value is None and "not a date" in note, printed


def test_date_order_is_read_off_the_document() -> None:
    assert date_order("Date: 25/03/2024, due 04/05/2024") == "DMY"
    assert date_order("Date: 03/25/2024") == "MDY"
    assert date_order("no numeric dates") == "DMY"


def test_printed_answers_become_typed_rows_with_evidence(tmp_path: Path) -> None:
    import json

    import pyarrow.parquet as pq

    from extractor.engines.fake import FakeEngine

    text = "Rechnung INV-9 vom 05.03.2024\nGesamtbetrag 1.234,56 EUR\nFällig: bald"
    (tmp_path / "inv.txt").write_text(text)
    answer = {
        "invoice_number": "INV-9",
        "issuer": None,
        "recipient": None,
        "invoice_date": "05.03.2024",
        "due_date": "bald",
        "currency": "EUR",
        "subtotal": None,
        "tax": None,
        "total": "1.234,56",
        "line_items": [],
    }
    engine = FakeEngine([json.dumps(answer)])
    result = run([tmp_path], load_schema("invoice"), engine, RunConfig(decoding="grounded"))
    (record,) = result.records
    assert record.ok and record.data is not None
    assert record.data["invoice_date"] == dt.date(2024, 3, 5) and record.data["total"] == Decimal("1234.56")
    assert record.data["due_date"] is None  # "bald" is no date: null, with the reason kept
    evidence = {e.field: e for e in record.evidence}
    assert evidence["due_date"].note == "not a date: 'bald'"
    assert evidence["total"].text == "1.234,56"
    assert text[evidence["total"].start : evidence["total"].end] == "1.234,56"
    assert engine.constraints[0].lark is not None and "substring_chunks" in engine.constraints[0].lark
    rows_file, *_ = result.write(tmp_path / "out")
    row = pq.read_table(rows_file, partitioning=None).to_pylist()[0]
    assert row["decoding"] == "grounded"
    assert {e["field"]: e["text"] for e in row["_evidence"]}["invoice_number"] == "INV-9"


class Amounts(BaseModel):
    total: Decimal | None = Field(None, max_digits=10, decimal_places=2)
    day: dt.date | None = None
    name: str | None = Field(None, max_length=30)


@pytest.mark.parametrize(
    ("answer", "allowed"),
    [
        ('{"total": "1,234.56 EUR", "day": "March 5, 2024", "name": "Acme Ltd."}', True),
        ('{"total": "1,234.56", "day": "2024-03-05", "name": "ref C31298"}', True),
        ('{"total": ", 1", "day": null, "name": null}', False),  # a separator is no amount
        ('{"total": "C31298", "day": null, "name": null}', False),  # nor is a reference with digits in it
        ('{"total": "234.56", "day": null, "name": null}', False),  # numbers are atomic: no cutting into one
        # A date is a date the text prints, as printed or in ISO form: no fragment of one, no other number.
        ('{"total": null, "day": "Thank you", "name": null}', False),
        ('{"total": null, "day": "March", "name": null}', False),
        ('{"total": null, "day": "2024", "name": null}', False),
        ('{"total": null, "day": "2024-03-05", "name": null}', True),
        ('{"total": null, "day": null, "name": " Acme"}', False),  # a span starts on a word
        ('{"total": null, "day": null, "name": "Acme Inc"}', False),  # not in the document
    ],
)
def test_grammar_admits_only_well_cut_spans(tiny_engine, answer: str, allowed: bool) -> None:  # type: ignore[no-untyped-def]
    text = "Invoice from Acme Ltd. dated March 5, 2024 (2024-03-05), ref C31298. Total: 1,234.56 EUR\nThank you"
    assert _admits(tiny_engine, grounded_grammar(load_schema(Amounts), text), answer) is allowed


@pytest.mark.parametrize(
    ("text", "day", "allowed"),
    [
        ("Rechnung vom 5. März 2018, Bestellung 2018-471331, (c) FeRD 2022", "5. März 2018", True),
        ("Rechnung vom 5. März 2018, Bestellung 2018-471331, (c) FeRD 2022", "2018-03-05", True),
        ("Rechnung vom 5. März 2018, Bestellung 2018-471331, (c) FeRD 2022", "2022", False),
        ("Rechnung vom 5. März 2018, Bestellung 2018-471331, (c) FeRD 2022", "2018-471331", False),
        ("Rechnung vom 5. März 2018, Bestellung 2018-471331, (c) FeRD 2022", "März 2018", False),
        ("DATE: 25DEC2018 10:31", "25DEC2018", True),
        ("Date 05-Mar-24 Total 12.00", "05-Mar-24", True),
        ("Date 05-Mar-24 Total 12.00", "2024-03-05", True),
        ("Date 05-Mar-24 Total 12.00", "12.00", False),
        ("Issued 2018/03/05 by Acme", "2018/03/05", True),
        ("Issued on March 5th, 2024 by Acme", "March 5th, 2024", True),
        # Where the text shows nothing that reads as a date, any span of a line with a digit is on offer.
        ("Ausgestellt im Q3/2018\nVielen Dank", "Q3/2018", True),
        ("Ausgestellt im Q3/2018\nVielen Dank", "Vielen Dank", False),  # a line without a digit
    ],
)
def test_a_date_field_takes_a_date_the_text_prints(tiny_engine, text: str, day: str, allowed: bool) -> None:  # type: ignore[no-untyped-def]
    class Dated(BaseModel):
        day: dt.date | None = None

    answer = json.dumps({"day": day}, ensure_ascii=False)
    assert _admits(tiny_engine, grounded_grammar(load_schema(Dated), text), answer) is allowed


def _admits(engine, lark: str, answer: str) -> bool:  # type: ignore[no-untyped-def]
    import llguidance

    grammar = llguidance.LLMatcher.grammar_from_lark(lark)
    matcher = llguidance.LLMatcher(engine._ll_tokenizer, grammar, log_level=0)
    for token in engine.tokenizer(answer, add_special_tokens=False).input_ids:
        matcher.consume_token(token)
    return not matcher.is_error() and matcher.is_accepting()
