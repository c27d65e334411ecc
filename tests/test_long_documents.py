"""Long documents: chunk boundaries and overlap, merge rules, and a 30-page document whose facts
on pages 1, 14 and 29 survive chunking (with a stand-in engine that reads whatever it is shown)."""

from __future__ import annotations

import itertools
import json
import re
from decimal import Decimal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from extractor.config import RunConfig
from extractor.engines.fake import FakeEngine
from extractor.extract import extract_batch
from extractor.extract.chunks import covered, split
from extractor.extract.merge import Part, merge_parts
from extractor.schema import load_schema
from extractor.types import Document, Evidence, Page


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, json_schema_extra={"extractive": True, "prefer": "first"})
    budget: Decimal | None = Field(None, json_schema_extra={"extractive": True})
    end_date: str | None = Field(None, json_schema_extra={"extractive": True})
    partners: list[str] = Field(default_factory=list, max_length=20)


def long_document(pages: int = 30) -> Document:
    texts = []
    for n in range(1, pages + 1):
        lines = [f"Page {n}. " + "The programme continued its routine work in the districts. " * 3 for _ in range(8)]
        if n == 1:
            lines.insert(2, "Title: Clean Water for Kisumu")
        if n == 14:
            lines.insert(5, "Approved budget: 1,250,000.00 EUR")
        if n == 29:
            lines.insert(3, "The project ends on 2026-06-30.")
        if n in (3, 14):
            lines.insert(1, "Partner: Aqua Partners Kenya")
        texts.append("\n".join(lines))
    text, spans = "", []
    for n, page in enumerate(texts, start=1):
        start = len(text)
        text += page + "\n\n"
        spans.append(Page(n, start, len(text)))
    return Document(doc_id="long", source="long.pdf", kind="pdf", text=text, pages=tuple(spans))


def reader(prompt) -> str:  # type: ignore[no-untyped-def]
    """A perfect reader of whatever part of the document it is shown."""
    text = prompt[-1]["content"]
    title = re.search(r"Title: (.+)", text)
    budget = re.search(r"Approved budget: ([\d,.]+)", text)
    end = re.search(r"ends on (\d{4}-\d{2}-\d{2})", text)
    partners = sorted(set(re.findall(r"Partner: (.+)", text)))
    return json.dumps(
        {
            "title": title.group(1) if title else None,
            "budget": budget.group(1).replace(",", "") if budget else None,
            "end_date": end.group(1) if end else None,
            "partners": partners,
        }
    )


def test_chunks_cover_the_document_with_overlap_and_end_on_page_breaks() -> None:
    doc = long_document()
    engine = FakeEngine(respond=reader)
    chunks = split(doc, engine, budget=600, overlap_tokens=40, max_chunks=64)
    assert len(chunks) > 3 and covered(chunks, doc)
    assert chunks[0].start == 0
    page_starts = {p.start for p in doc.pages}
    for a, b in itertools.pairwise(chunks):
        assert engine.count_tokens(doc.text[a.start : a.end]) <= 600
        assert b.start < a.end  # overlap
        assert 0 < engine.count_tokens(doc.text[b.start : a.end]) <= 40
        assert a.end in page_starts or doc.text[a.end - 1] == "\n"  # cut on a page or line boundary
    assert split(doc, engine, budget=600, overlap_tokens=0, max_chunks=2)[-1].end < len(doc.text.rstrip())
    short = Document(doc_id="s", source="s", kind="text", text="a short text")
    assert [(c.start, c.end) for c in split(short, engine, 600, 40, 64)] == [(0, len(short.text))]


def test_a_fact_on_page_14_of_30_survives_chunking_but_not_truncation() -> None:
    schema = load_schema(Report)
    doc = long_document()
    chunked, truncated = (
        extract_batch(
            [doc],
            schema,
            FakeEngine(respond=reader, max_context_tokens=1400),
            RunConfig(decoding="json", long_documents=mode, max_new_tokens=200),
        )[0]
        for mode in ("chunk", "truncate")
    )
    assert chunked.ok and chunked.provenance.chunks > 3 and not chunked.provenance.truncated
    assert chunked.data == {
        "title": "Clean Water for Kisumu",
        "budget": Decimal("1250000.00"),
        "end_date": "2026-06-30",
        "partners": ["Aqua Partners Kenya"],  # seen in two parts, kept once
    }
    pages = {e.field: e.page for e in chunked.evidence}
    assert pages == {"title": 1, "budget": 14, "end_date": 29, "partners[0]": 3}
    assert truncated.provenance.truncated and truncated.provenance.chunks == 1
    assert truncated.data["budget"] is None and truncated.data["end_date"] is None


def _ev(field: str, confidence: float, grounded: bool = True, start: int = 0) -> Evidence:
    return Evidence(field, "", start, start + 1, confidence=confidence, grounded=grounded)


def test_scalars_take_the_most_confident_value_unless_the_schema_prefers_a_place() -> None:
    fields = load_schema(Report).fields
    parts = [
        Part({"title": "Draft", "budget": Decimal(5), "end_date": None, "partners": ["A", "B"]},
             {"title": _ev("title", 0.9), "budget": _ev("budget", 0.3), "partners[0]": _ev("partners[0]", 1, start=1),
              "partners[1]": _ev("partners[1]", 1, start=2)}),
        Part({"title": "Final", "budget": Decimal(7), "end_date": "2026", "partners": ["B", "C"]},
             {"title": _ev("title", 0.99), "budget": _ev("budget", 0.8), "end_date": _ev("end_date", 0.1),
              "partners[0]": _ev("partners[0]", 1, start=9), "partners[1]": _ev("partners[1]", 1, start=10)}),
    ]  # fmt: skip
    merged = merge_parts(parts, fields)
    data, evidence = merged.data, merged.evidence
    assert not merged.notes
    assert data["title"] == "Draft"  # prefer: first, though the second part was surer
    assert data["budget"] == Decimal(7)  # the more confident
    assert data["end_date"] == "2026"  # the only non-null one, however unsure
    assert data["partners"] == ["A", "B", "C"]  # union in document order, B once
    assert {e.field: e.start for e in evidence if e.field.startswith("partners")} == {
        "partners[0]": 1,
        "partners[1]": 2,
        "partners[2]": 10,
    }


def test_with_equal_confidence_a_grounded_value_wins() -> None:
    fields = load_schema(Report).fields
    parts = [
        Part({"budget": Decimal(1)}, {"budget": _ev("budget", 0.5, grounded=False)}),
        Part({"budget": Decimal(2)}, {"budget": _ev("budget", 0.5, grounded=True)}),
    ]
    assert merge_parts(parts, fields).data["budget"] == Decimal(2)


class Span(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start_date: str | None = Field(None, json_schema_extra={"extractive": True})
    end_date: str | None = Field(None, json_schema_extra={"extractive": True})


def _date_part(value: str, start: int, confidence: dict[str, float]) -> Part:
    """A part that prints one date and gives it to every date field."""
    data = {name: value for name in confidence}
    return Part(data, {name: _ev(name, c, start=start) for name, c in confidence.items()})


@pytest.mark.parametrize(
    ("parts", "expected", "end_date_at"),
    [
        # the report's case: page 1 prints the start, page 29 the end, and each part gives its
        # date to both fields, page 1's more surely; the end date is the span start_date did not take
        (
            [_date_part("4 Apr 2022", 100, {"start_date": 0.99, "end_date": 0.98}),
             _date_part("21 Feb 2026", 900, {"start_date": 0.97, "end_date": 0.95})],
            {"start_date": "4 Apr 2022", "end_date": "21 Feb 2026"}, 900,
        ),
        # surest first: the end date's claim on page 29 is the surer one here
        (
            [_date_part("4 Apr 2022", 100, {"start_date": 0.90, "end_date": 0.60}),
             _date_part("21 Feb 2026", 900, {"start_date": 0.80, "end_date": 0.95})],
            {"start_date": "4 Apr 2022", "end_date": "21 Feb 2026"}, 900,
        ),
        # one printed date and no alternative: both fields keep it
        (
            [_date_part("4 Apr 2022", 100, {"start_date": 0.99, "end_date": 0.98}),
             Part({}, {})],
            {"start_date": "4 Apr 2022", "end_date": "4 Apr 2022"}, 100,
        ),
        # the same date printed twice: the end date takes its other printing
        (
            [_date_part("4 Apr 2022", 100, {"start_date": 0.99, "end_date": 0.98}),
             _date_part("4 Apr 2022", 900, {"end_date": 0.5})],
            {"start_date": "4 Apr 2022", "end_date": "4 Apr 2022"}, 900,
        ),
    ],
)  # fmt: skip
def test_one_printed_span_answers_one_field_where_another_part_offers_an_alternative(
    parts: list[Part], expected: dict[str, str], end_date_at: int
) -> None:
    merged = merge_parts(parts, load_schema(Span).fields)
    assert merged.data == expected
    assert {e.field: e.start for e in merged.evidence} == {"start_date": 100, "end_date": end_date_at}


class Bounded(BaseModel):
    model_config = ConfigDict(extra="forbid")
    products: list[str] = Field(default_factory=list, max_length=3)


def test_a_merged_list_keeps_the_schema_bound_with_the_best_supported_items() -> None:
    """Parts of a long document that together find more items than the schema allows keep the
    best-supported ones, in document order, and say what was dropped (the document is not lost)."""
    fields = load_schema(Bounded).fields
    confidences = [[0.9, 0.2, 0.8], [0.3, 0.95]]
    names = [["a", "b", "c"], ["d", "e"]]
    parts = [
        Part({"products": ns}, {f"products[{i}]": _ev(f"products[{i}]", c, start=10 * p + i) for i, c in enumerate(cs)})
        for p, (ns, cs) in enumerate(zip(names, confidences, strict=True))
    ]
    merged = merge_parts(parts, fields)
    assert merged.data["products"] == ["a", "c", "e"]  # the three most confident, in document order
    assert {e.field: e.start for e in merged.evidence} == {"products[0]": 0, "products[1]": 2, "products[2]": 11}
    assert len(merged.notes) == 1 and "found 5 items" in merged.notes[0] and "dropped 2" in merged.notes[0]
    Bounded.model_validate(merged.data)  # what validation of the whole record will see


def test_a_long_document_whose_parts_find_too_many_items_is_a_row_not_an_error() -> None:
    schema = load_schema(Bounded)
    doc = long_document(12)
    names = iter(itertools.count())

    def respond(prompt) -> str:  # type: ignore[no-untyped-def]
        return json.dumps({"products": [f"item {next(names)}" for _ in range(3)]})

    engine = FakeEngine(respond=respond, max_context_tokens=1400)
    (record,) = extract_batch([doc], schema, engine, RunConfig(max_input_tokens=400, max_new_tokens=200))
    assert record.ok and record.provenance.chunks > 1, record.error
    assert len(record.data["products"]) == 3
    assert any("the schema allows 3" in reason for reason in record.review)


def test_a_bad_prefer_hint_is_a_config_error() -> None:
    from extractor.errors import ConfigError

    class Bad(BaseModel):
        x: str | None = Field(None, json_schema_extra={"prefer": "middle"})

    with pytest.raises(ConfigError, match="prefer"):
        load_schema(Bad)


@pytest.mark.slow
def test_a_30_page_report_gives_its_facts_from_pages_1_14_and_29(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Done-when of the long-documents issue, on the real model the CLI picks for project reports."""
    import datetime as dt
    import random

    from extractor.engines.model_store import model_for
    from extractor.engines.transformers import TransformersEngine
    from extractor.pipeline import run_incremental
    from extractor.review import collect, render
    from extractor.synth.long_report import long_report

    pdf, labels = long_report(random.Random("long:0"), pages=30, fact_pages=(1, 14, 29))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "report.pdf").write_bytes(pdf)
    schema = load_schema("project_report")
    engine = TransformersEngine(model_for(None, schema.name, schema.fingerprint))
    result = run_incremental([tmp_path / "in"], tmp_path / "out", schema, engine, RunConfig())
    (record,) = result.records
    assert record.ok and record.data is not None and record.provenance is not None
    assert record.provenance.chunks > 1 and not record.provenance.truncated
    assert record.data["project_name"] == labels["project_name"]
    assert record.data["budget"] == Decimal(labels["budget"])
    assert record.data["end_date"] == dt.date.fromisoformat(labels["end_date"])
    pages = {e.field: e.page for e in record.evidence}
    assert (pages["project_name"], pages["budget"], pages["end_date"]) == (1, 14, 29)
    page = render(collect(tmp_path / "out"))
    for field in ("project_name", "budget", "end_date"):
        assert f'data-field="{field}"' in page  # highlighted in the text on the review page
