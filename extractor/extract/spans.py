"""After grounded decoding: turn each extractive value (a span of the document) into its typed value,
and record where in the document it came from.

Every extractive string is a substring of the prompt text by construction, so its offsets are found
by a plain search (a date the model wrote in ISO form instead of copying it is left to the evidence
search, which finds the date it means however it is printed); where the text prints it in several
places, the one read is chosen by the places of the record's other values (occurrence.py), and its
page follows from the Document's page spans.
"""

from __future__ import annotations

from typing import Any

from extractor.extract.grammar import CHUNK
from extractor.extract.occurrence import LineIndex, ambiguity_note, choose, context
from extractor.extract.typed import date_order, parse_printed
from extractor.schema import FieldSpec, map_leaves
from extractor.types import Document, Evidence


def read_spans(
    answer: dict[str, Any], fields: tuple[FieldSpec, ...], doc: Document, text: str, offset: int = 0
) -> tuple[dict[str, Any], list[Evidence]]:
    """(values ready for validation, evidence for each extractive value). `text` is the part of
    `doc.text` the model saw, starting at `offset`."""
    resolver = _Resolver(doc, text, offset)
    return map_leaves(answer, fields, resolver.leaf), resolver.evidence


class _Resolver:
    def __init__(self, doc: Document, text: str, offset: int) -> None:
        self.doc = doc
        self.text = text
        self.offset = offset
        self.order = date_order(text)
        self.lines = LineIndex(text)
        self.evidence: list[Evidence] = []
        # A copied span starts and ends where the grammar's chunks do ("4" of "14" is no copy of "4").
        chunks = list(CHUNK.finditer(text))
        self._starts = {m.start() for m in chunks}
        self._ends = {m.end() for m in chunks}

    def leaf(self, value: Any, spec: FieldSpec, path: str) -> Any:
        if not spec.extractive or not isinstance(value, str):
            return value
        typed, note = parse_printed(spec, value, self.order)
        start, places = self._place(value, path)
        if start < 0 and typed is not None:
            return typed  # written in canonical form (an ISO date), not copied: the search grounds it
        if start >= 0 and not note and places > 1:
            note = ambiguity_note(places)
        start = start + self.offset if start >= 0 else -1
        page = self.doc.page_at(start) if start >= 0 else None
        self.evidence.append(
            Evidence(
                field=path,
                text=value,
                start=start,
                end=start + len(value) if start >= 0 else -1,
                page=page.number if page else None,
                origin=page.origin if page else "",
                note=note,
            )
        )
        return typed

    def _place(self, value: str, path: str) -> tuple[int, int]:
        """Where in `text` the value stands (-1: nowhere), and in how many places it stands when
        nothing decides between them (1 when the choice is clear)."""
        found, at = [], self.text.find(value)
        while at >= 0 and value:
            found.append((at, at + len(value)))
            at = self.text.find(value, at + 1)
        spans = [(a, b) for a, b in found if a in self._starts and b in self._ends] or found
        if not spans:
            return -1, 1
        anchors, siblings = context(path, self.evidence)
        local = [a - self.offset for a in anchors]
        (start, _end), ambiguous = choose(spans, local, siblings, self.lines)
        return start, len(spans) if ambiguous else 1
