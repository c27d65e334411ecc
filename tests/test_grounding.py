"""Evidence search (exact, normalised, fuzzy, absent) and per-field confidence."""

from __future__ import annotations

import datetime as dt
import math
import time
from decimal import Decimal

import pytest

from extractor.extract.confidence import field_confidence, leaf_spans
from extractor.extract.evidence import TextIndex, locate
from extractor.schema import FieldSpec
from extractor.types import Document, Page

TEXT = (
    "RECHNUNG Nr. RE-2024-118\n"
    "Lieferant: Kraus   Elektrotechnik GmbH, Hauptstraße 5, München\n"
    "Rechnungsdatum: 01.03.2024   Fällig am 31 März 2024\n"
    "Gesamtbetrag: 1.234,56 EUR (netto 1 037,45)\n"
)
STRING = FieldSpec("s", "string", extractive=True)
AMOUNT = FieldSpec("a", "decimal", extractive=True)
DATE = FieldSpec("d", "date", extractive=True)


@pytest.mark.parametrize(
    ("value", "spec", "match", "printed"),
    [
        ("RE-2024-118", STRING, "exact", "RE-2024-118"),
        ("kraus elektrotechnik gmbh", STRING, "normalised", "Kraus   Elektrotechnik GmbH"),
        ("Hauptstrasse 5, Munchen", STRING, "fuzzy", None),
        (Decimal("1234.56"), AMOUNT, "normalised", "1.234,56"),
        (Decimal("1037.45"), AMOUNT, "normalised", "1 037,45"),
        (dt.date(2024, 3, 1), DATE, "normalised", "01.03.2024"),
        (dt.date(2024, 3, 31), DATE, "normalised", "31 März 2024"),
    ],
)
def test_values_are_found_exactly_then_normalised_then_fuzzily(value, spec, match, printed) -> None:  # type: ignore[no-untyped-def]
    found = TextIndex(TEXT).find(value, spec)
    assert found is not None and found.match == match
    if printed is not None:
        assert TEXT[found.start : found.end] == printed
    else:
        assert "Hauptstraße 5, München" in TEXT[found.start - 2 : found.end + 2]


@pytest.mark.parametrize(
    ("value", "spec"),
    [("Northwind Traders", STRING), (Decimal("99.99"), AMOUNT), (dt.date(2024, 1, 3), DATE), (Decimal("34"), AMOUNT)],
)
def test_absent_values_are_not_found(value, spec) -> None:  # type: ignore[no-untyped-def]
    # 34 is inside 1.234,56 but is not a number printed on its own
    assert TextIndex(TEXT).find(value, spec) is None


def test_iso_and_us_style_dates_and_plain_amounts() -> None:
    text = "Invoice date: 03/14/2024. Total 1234.56 USD. Paid 2024-04-01."
    index = TextIndex(text)
    assert text[slice(*_span(index.find(dt.date(2024, 3, 14), DATE)))] == "03/14/2024"
    hit = index.find(dt.date(2024, 4, 1), DATE)
    assert hit is not None and hit.match == "exact"
    hit = index.find(Decimal("1234.56"), AMOUNT)
    assert hit is not None and hit.match == "exact"


def test_ground_gives_page_and_flags_what_is_not_in_the_text() -> None:
    text = "Page one: invoice INV-7\n" + "filler line\n" * 50 + "Page two: total 15,00 EUR\n"
    second = text.index("Page two")
    doc = Document(
        doc_id="x", source="x.pdf", kind="pdf", text=text, pages=(Page(1, 0, second), Page(2, second, len(text)))
    )
    fields = (
        FieldSpec("number", "string", extractive=True),
        FieldSpec("total", "decimal", extractive=True),
        FieldSpec("issuer", "string", extractive=True, nullable=True),
        FieldSpec("paid", "boolean"),
    )
    data = {"number": "INV-7", "total": Decimal("15.00"), "issuer": "Acme Ltd", "paid": False}
    evidence = {e.field: e for e in locate(data, fields, doc, TextIndex(text), {}, {"total": 0.5})}
    assert evidence["number"].page == 1 and evidence["number"].grounded
    assert evidence["total"].page == 2 and evidence["total"].text == "15,00" and evidence["total"].confidence == 0.5
    assert evidence["issuer"].grounded is False and evidence["issuer"].start == -1
    assert evidence["paid"].grounded is None and evidence["paid"].match == ""  # abstractive: not searched


def test_fuzzy_search_stays_fast_on_a_long_document() -> None:
    text = ("The quarterly report covers water, sanitation and hygiene work in five districts. " * 40 + "\n") * 30
    text += "Project lead: Dr. Amelia Okonkwo-Brandt, Nairobi office\n"
    index = TextIndex(text)  # ~100,000 characters
    started = time.perf_counter()
    found = index.find("Dr Amelia Okonkwo Brandt", STRING)
    elapsed = time.perf_counter() - started
    assert found is not None and found.match == "fuzzy" and "Okonkwo" in text[found.start : found.end]
    assert elapsed < 5.0  # generous: quadratic alignment would take minutes at this size


def _span(found):  # type: ignore[no-untyped-def]
    assert found is not None
    return found.start, found.end


def test_leaf_spans_follow_the_path_convention() -> None:
    answer = '{"a": "x", "items": [{"q": 1.5, "d": null}, {"q": 2, "d": "y"}], "o": {"b": true}}'
    spans = leaf_spans(answer)
    assert answer[slice(*spans["a"])] == '"x"'
    assert answer[slice(*spans["items[1].q"])] == "2"
    assert answer[slice(*spans["items[0].d"])] == "null"
    assert answer[slice(*spans["o.b"])] == "true"
    assert leaf_spans('{"a": ') == {}


def test_confidence_is_the_geometric_mean_of_the_value_tokens() -> None:
    pieces = ['{"a": ', '"x', 'y"', ', "b": ', '"z"', "}"]
    answer = "".join(pieces)
    ends = []
    for p in pieces:
        ends.append((ends[-1] if ends else 0) + len(p))
    logprobs = [0.0, math.log(0.9), math.log(0.4), 0.0, math.log(0.99), 0.0]
    confidence = field_confidence(answer, ends, logprobs)
    assert confidence["a"] == pytest.approx(math.sqrt(0.9 * 0.4))
    assert confidence["b"] == pytest.approx(0.99)
    assert all(0.0 <= c <= 1.0 for c in confidence.values())
