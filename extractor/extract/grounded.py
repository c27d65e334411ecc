"""After grounded decoding: turn each extractive value (a span of the document) into its typed value,
and record where in the document it came from.

Every extractive value is a substring of the prompt text by construction, so its offsets are found
by a plain search (the first occurrence) and its page follows from the Document's page spans.
"""

from __future__ import annotations

from typing import Any

from extractor.extract.typed import date_order, parse_printed
from extractor.schema import FieldSpec, map_leaves
from extractor.types import Document, Evidence


def resolve(
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
        self.evidence: list[Evidence] = []

    def leaf(self, value: Any, spec: FieldSpec, path: str) -> Any:
        if not spec.extractive or not isinstance(value, str):
            return value
        typed, note = parse_printed(spec, value, self.order)
        start = self.text.find(value)
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
