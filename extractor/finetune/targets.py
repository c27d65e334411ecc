"""The answer a fine-tuned model should write for a label: exactly what the decoder lets it write.

Labels hold canonical values ("2023-05-18", "27422.69"). Under the JSON-Schema constraint the
answer is the label itself, written compactly in the schema's field order, numbers as bare JSON
numbers. Under grounded decoding an extractive field can only be a span of the document, so the
answer holds the span that *means* the label: the printed amount ("27.422,69 €" -> "27.422,69"),
the name as the document spells it, or, for a name it prints only approximately (an OCR slip,
a line break inside it), the printed span nearest to it. A date the document prints stays in ISO
form, as the prompt asks for and as the grammar allows for any date the text prints, so a model
learns one way to write every date rather than each document's own ("18 mai 2023", "13/03/2018").
A label value the document never prints stays as it is (a number, bare) and is counted, so the
caller can say how many targets the grammar could not have produced.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from extractor.extract.constraint import DEFAULT_MAX_STRING
from extractor.extract.evidence import TextIndex
from extractor.extract.typed import parse_printed
from extractor.schema import FieldSpec, SchemaInfo, map_leaves

# Separators of the answer layout both constraints enforce.
_SEPARATORS = (", ", ": ")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SPACED_NUMBER = re.compile(r"\b\d{1,3}(?: \d{3})+(?:[.,]\d+)?")
_WORD = re.compile(r"\w+")
_DATE_WORDS = 6
# An approximate alignment's ragged edges: a span starts on a word or an opening bracket (the
# grammar refuses spaces and separators there) and does not end in a space.
_SPAN_EDGES = re.compile(r"^[^\w(\[]+|\s+$")


@dataclass
class TargetStats:
    values: int = 0
    not_in_document: list[str] = field(default_factory=list)  # field paths whose value is never printed
    nearest: list[str] = field(default_factory=list)  # paths whose string is printed only approximately


def answer_text(
    schema: SchemaInfo, label: dict[str, Any], text: str, decoding: str, stats: TargetStats | None = None
) -> str:
    """The compact JSON answer for `label` (canonical values) given the document `text`."""
    stats = stats if stats is not None else TargetStats()
    if decoding == "grounded":
        value = map_leaves(label, schema.fields, _Grounder(text, stats).leaf)
    else:
        value = map_leaves(label, schema.fields, lambda v, spec, path: bare_number(v, spec))
    return json.dumps(value, ensure_ascii=False, separators=_SEPARATORS)


def unprinted(schema: SchemaInfo, values: dict[str, Any], text: str) -> list[str]:
    """The paths of the extractive values in `values` that `text` prints nowhere, not even
    approximately: values a grounded model cannot write and a person cannot select in the document."""
    stats = TargetStats()
    answer_text(schema, values, text, "grounded", stats)
    return stats.not_in_document


def bare_number(value: Any, spec: FieldSpec) -> Any:
    """A number label as the bare JSON number both constraints let a model write ("27422.69" ->
    27422.69); anything else as it is."""
    if value is None or isinstance(value, bool) or spec.kind not in ("integer", "number", "decimal"):
        return value
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return value
    return int(number) if spec.kind == "integer" or number == number.to_integral_value() else float(number)


class _Grounder:
    """Finds each label value's printed span. Searches start where the previous value of the same
    object was found (a line item's quantity is the number after its description, not the "00100"
    in the invoice number), then wrap around to the start of the document."""

    def __init__(self, text: str, stats: TargetStats) -> None:
        self.text = text
        self.index = TextIndex(text)
        self.order = self.index.order
        self.stats = stats
        self.cursor = 0
        # The dates the grammar lets a model write in ISO form (grammar.py, `iso_dates`), with where
        # the text prints them.
        self.printed_dates = {d.isoformat(): spans for d, spans in self.index.dates().items()}

    def leaf(self, value: Any, spec: FieldSpec, path: str) -> Any:
        if not spec.extractive:
            return bare_number(value, spec)
        self.stats.values += 1
        if spec.kind == "string":
            found = self._first(lambda: self._strings(str(value)))
            if found is None and (found := self._nearest(str(value), spec)) is not None:
                self.stats.nearest.append(path)
        elif spec.kind == "date" and (spans := self.printed_dates.get(str(value)[:10])):
            self._first(lambda: [(start, self.text[start:end]) for start, end in spans])  # moves the cursor
            return str(value)[:10]
        elif spec.kind in ("date", "datetime"):
            found = self._first(lambda: self._dates(spec, str(value)))
        else:
            found = self._first(lambda: self._amounts(spec, value))
        if found is None:
            self.stats.not_in_document.append(path)
            return bare_number(value, spec)
        return found

    def _first(self, candidates: Any) -> str | None:
        """The first candidate (start, span) at or after the cursor, else the first of all."""
        spans = sorted(candidates(), key=lambda c: (c[0] < self.cursor, c[0]))
        if not spans:
            return None
        start, span = spans[0]
        self.cursor = start + len(span)
        return span

    def _strings(self, value: str) -> list[tuple[int, str]]:
        words = [re.escape(w) for w in value.split()]
        if not words:
            return []
        exact = [(m.start(), m.group(0)) for m in re.finditer(re.escape(value), self.text)]
        # Otherwise the document's own spelling when it differs only in case or spacing.
        return exact or [(m.start(), m.group(0)) for m in re.finditer(r"\s+".join(words), self.text, re.IGNORECASE)]

    def _nearest(self, value: str, spec: FieldSpec) -> str | None:
        """The printed span evidence search would ground `value` on (a fuzzy alignment, 85/100 or
        more), trimmed to where the grammar lets a span start and end; None if there is none."""
        hit = self.index.find(value, spec)
        if hit is None:
            return None
        span = _SPAN_EDGES.sub("", self.text[hit.start : hit.end])
        escaped = json.dumps(span, ensure_ascii=False)[1:-1]  # the grammar bounds the span as written
        if not span or len(escaped) > (spec.max_length or DEFAULT_MAX_STRING):
            return None
        self.cursor = hit.end
        return span

    def _dates(self, spec: FieldSpec, value: str) -> list[tuple[int, str]]:
        target = value[:10]
        years = {target[:4], target[2:4]}
        days = {target[8:10], target[8:10].lstrip("0")}
        words = list(_WORD.finditer(self.text))
        found: list[tuple[int, int]] = []
        for i, first in enumerate(words):
            # Spans of one to six words starting here, shortest first: "18 May 2023", not "18 May 2023 Due".
            tokens: set[str] = set()
            for last in words[i : i + _DATE_WORDS]:
                span = self.text[first.start() : last.end()]
                tokens.add(last.group(0))
                if "\n" in span:
                    break
                if not (tokens & days and tokens & years):
                    continue
                parsed, _ = parse_printed(spec, span, self.order)
                if parsed is not None and str(parsed)[:10] == target:
                    found.append((first.start(), last.end()))
                    break
        # The tightest spans: "August 19, 2019" rather than "on August 19, 2019" around it.
        tight = [(a, b) for a, b in found if not any(a < c and d <= b for c, d in found)]
        return [(a, self.text[a:b]) for a, b in tight]

    def _amounts(self, spec: FieldSpec, value: Any) -> list[tuple[int, str]]:
        try:
            wanted = Decimal(str(value))
        except InvalidOperation:
            return []
        found: dict[int, str] = {}
        for pattern in (_SPACED_NUMBER, _NUMBER):  # "1 234,56" before its pieces "1" and "234,56"
            for match in pattern.finditer(self.text):
                span = match.group(0)
                if match.start() in found or (span.startswith("0") and len(span) > 1 and span[1].isdigit()):
                    continue  # "00100" is an identifier's digits, not a printed quantity
                parsed, _ = parse_printed(spec, span)
                if parsed is not None and abs(Decimal(str(parsed)) - wanted) < Decimal("0.005"):
                    found[match.start()] = span
        return list(found.items())
