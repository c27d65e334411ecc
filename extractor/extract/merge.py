"""One record from the records of a long document's parts.

- A scalar takes the best-supported non-null value among the parts: the highest confidence, then
  a value found in the text over one that was not, then the earlier part. A field whose schema says
  `prefer: "first"` (or `"last"`) takes the value of the first (last) part that has one.
- One printed span answers one scalar field where the parts offer another: a part that prints a
  single date tends to give it to every date field (a report's first pages print when it started,
  its last pages when it ends). Fields are settled surest first, and a field passes over a
  candidate grounded on the very span a surer field already took when another part offers it a
  value of its own. With no such alternative the shared value stays (an invoice's date and its
  delivery date may be one printed date).
- A nested object merges field by field, by the same rules.
- A list is the union of the parts' lists in document order, without duplicates (an item the
  overlap between two parts made twice is kept once). When the union holds more items than the
  schema allows (`max_length`), the best-supported items are kept (mean confidence of their
  values, then how many were found in the text, then document order), in document order, and a
  note says how many were dropped: a document is never lost because its parts together found more
  than the schema allows.
Evidence follows its value; list items are renumbered (`line_items[0]` of part 2 may become
`line_items[3]`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from extractor.schema import FieldSpec
from extractor.types import Evidence


@dataclass(frozen=True)
class Part:
    """One part's validated values, and its evidence by field path."""

    data: dict[str, Any]
    evidence: dict[str, Evidence]


@dataclass(frozen=True)
class Merged:
    data: dict[str, Any]
    evidence: list[Evidence]
    notes: list[str]  # what merging had to leave out, for the row's review column


def merge_parts(parts: Sequence[Part], fields: tuple[FieldSpec, ...]) -> Merged:
    """One record's values from the values of a long document's parts."""
    evidence: list[Evidence] = []
    notes: list[str] = []
    data = _object([(p.data, p.evidence, "") for p in parts], fields, evidence, notes)
    return Merged(data, evidence, notes)


_Source = tuple[dict[str, Any], dict[str, Evidence], str]  # (values, evidence of the part, path prefix)
_Candidate = tuple[Any, dict[str, Evidence], str]  # (value, evidence of its part, path)
_NESTED = ("object", "list")


def _object(
    sources: list[_Source], fields: tuple[FieldSpec, ...], out: list[Evidence], notes: list[str]
) -> dict[str, Any]:
    present: dict[str, list[_Candidate]] = {}  # each field's non-null values, part by part
    for spec in fields:
        values = [(data.get(spec.name), ev, prefix + spec.name) for data, ev, prefix in sources]
        present[spec.name] = [(v, ev, path) for v, ev, path in values if v is not None]
    scalars = _settle_scalars([(s, present[s.name]) for s in fields if present[s.name] and s.kind not in _NESTED])
    merged: dict[str, Any] = {}
    for spec in fields:
        candidates = present[spec.name]
        if not candidates:
            merged[spec.name] = None
        elif spec.kind == "object":
            merged[spec.name] = _object([(v, ev, p + ".") for v, ev, p in candidates], spec.fields, out, notes)
        elif spec.kind == "list":
            merged[spec.name] = _list(candidates, spec, out, notes)
        else:
            value, ev, path = scalars[spec.name]
            merged[spec.name] = value
            if path in ev:
                out.append(ev[path])
    return merged


def _settle_scalars(scalars: list[tuple[FieldSpec, list[_Candidate]]]) -> dict[str, _Candidate]:
    """Each scalar's value: its best candidate, unless that is a span a surer field took and another
    part offers something else (fields are settled surest first)."""
    ranked = [(spec, _ranked(candidates, spec)) for spec, candidates in scalars]
    taken: dict[tuple[int, int], float] = {}  # grounded span -> confidence of the field that took it
    chosen: dict[str, _Candidate] = {}
    for spec, candidates in sorted(ranked, key=lambda s: _confidence(s[1][0]), reverse=True):
        free = [c for c in candidates if not _taken_by_surer(c, taken)]
        chosen[spec.name] = best = candidates[0] if spec.prefer else (free or candidates)[0]
        if (span := _span(best)) is not None:
            taken[span] = max(taken.get(span, 0.0), _confidence(best))
    return chosen


def _taken_by_surer(candidate: _Candidate, taken: dict[tuple[int, int], float]) -> bool:
    span = _span(candidate)
    return span is not None and taken.get(span, -1.0) >= _confidence(candidate)


def _ranked(present: list[_Candidate], spec: FieldSpec) -> list[_Candidate]:
    """A scalar's candidates, best first: the schema's preferred place, else by support."""
    if spec.prefer == "first":
        return present
    if spec.prefer == "last":
        return present[::-1]

    def support(i: int) -> tuple[float, bool, int]:
        e = present[i][1].get(present[i][2])
        return (_confidence(present[i]), bool(e is not None and e.grounded), -i)

    return [present[i] for i in sorted(range(len(present)), key=support, reverse=True)]


def _confidence(candidate: _Candidate) -> float:
    e = candidate[1].get(candidate[2])
    return e.confidence if e is not None and e.confidence is not None else 0.0


def _span(candidate: _Candidate) -> tuple[int, int] | None:
    e = candidate[1].get(candidate[2])
    return (e.start, e.end) if e is not None and e.grounded and e.start >= 0 else None


def _list(present: list[_Candidate], spec: FieldSpec, out: list[Evidence], notes: list[str]) -> list[Any]:
    # (item, its evidence with paths relative to the item, e.g. "[].amount") in document order
    items: list[tuple[Any, list[Evidence]]] = []
    seen: set[str] = set()
    path = present[0][2]  # objects are merged in place, so every part's path is the merged path
    for values, ev, part_path in present:
        for i, item in enumerate(values):
            key = json.dumps(item, sort_keys=True, default=str)
            if key in seen:
                continue
            seen.add(key)
            old = f"{part_path}[{i}]"
            own = [e for e in ev.values() if e.field == old or e.field.startswith((old + ".", old + "["))]
            items.append((item, [replace(e, field=e.field[len(old) :]) for e in own]))
    kept: list[int] = list(range(len(items)))
    if spec.max_length is not None and len(items) > spec.max_length:
        best = sorted(kept, key=lambda k: _item_support(items[k][1], k), reverse=True)[: spec.max_length]
        kept = sorted(best)
        notes.append(
            f"{path}: the document's parts found {len(items)} items, the schema allows {spec.max_length}; "
            f"kept the {spec.max_length} best supported, dropped {len(items) - spec.max_length}"
        )
    merged = []
    for n, k in enumerate(kept):
        item, own = items[k]
        out.extend(replace(e, field=f"{path}[{n}]{e.field}") for e in own)
        merged.append(item)
    return merged


def _item_support(evidence: list[Evidence], position: int) -> tuple[float, int, int]:
    """Mean confidence of the item's values, how many were found in the text, earlier first."""
    confidences = [e.confidence for e in evidence if e.confidence is not None]
    mean = sum(confidences) / len(confidences) if confidences else 0.0
    return (mean, sum(1 for e in evidence if e.grounded), -position)
