"""Evidence points at the place the model read: a line item's quantity on its own row, not inside a
postcode or a ZIP code that prints the same digits; a value nothing can place is marked ambiguous."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from extractor.extract.answer import validate
from extractor.extract.evidence import TextIndex, locate
from extractor.extract.spans import read_spans
from extractor.schema import load_schema
from extractor.types import Document

TEXT = (
    "Invoice INV-7\n"
    "Bill to: Acme Ltd, Leeds LS1 4AB\n"
    "Ship to: 1 Main St, Boston MA 02108\n"
    "Item      Qty   Price\n"
    "Widget    4     2.50\n"
    "Gadget    10    1.00\n"
    "Thank you. Call 4 us, or 10 times.\n"
)


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = Field(max_length=40, json_schema_extra={"extractive": True})
    quantity: Decimal | None = Field(None, json_schema_extra={"extractive": True})


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[Line] = Field(default_factory=list, max_length=5)


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quantity: Decimal | None = Field(None, json_schema_extra={"extractive": True})


ANSWER = {"lines": [{"description": "Widget", "quantity": "4"}, {"description": "Gadget", "quantity": "10"}]}


def _line_of(offset: int) -> str:
    return TEXT[TEXT.rfind("\n", 0, offset) + 1 : TEXT.find("\n", offset)]


@pytest.mark.parametrize("decoding", ["grounded", "search"])
def test_a_quantity_is_found_on_its_line_item_not_in_an_address(decoding: str) -> None:
    schema = load_schema(Order)
    doc = Document(doc_id="x", source="x.txt", kind="text", text=TEXT)
    if decoding == "grounded":  # the model copied spans: which copy of "4" was it?
        typed, spans = read_spans(ANSWER, schema.fields, doc, TEXT)
        evidence = {e.field: e for e in locate(validate(typed, schema), schema.fields, doc, TextIndex(TEXT),
                                               {e.field: e for e in spans}, {})}  # fmt: skip
    else:  # JSON decoding: the values are searched for in the text
        data = validate(ANSWER, schema)
        evidence = {e.field: e for e in locate(data, schema.fields, doc, TextIndex(TEXT), {}, {})}
    first, second = evidence["lines[0].quantity"], evidence["lines[1].quantity"]
    assert TEXT[first.start : first.end] == "4" and _line_of(first.start).startswith("Widget")
    assert TEXT[second.start : second.end] == "10" and _line_of(second.start).startswith("Gadget")
    assert not first.note and not second.note


def test_a_value_with_no_context_printed_twice_is_marked_ambiguous() -> None:
    schema = load_schema(Note)
    doc = Document(doc_id="x", source="x.txt", kind="text", text="Qty 4 here, and 4 there.")
    (e,) = locate(validate({"quantity": "4"}, schema), schema.fields, doc, TextIndex(doc.text), {}, {})
    assert e.start == 4 and e.note.startswith("ambiguous: printed in 2 places")
    _typed, (span,) = read_spans({"quantity": "4"}, schema.fields, doc, doc.text)
    assert span.start == 4 and span.note.startswith("ambiguous")
