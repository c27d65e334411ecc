"""One record from the records of a long document's parts.

- A scalar takes the best-supported non-null value among the parts: the highest confidence, then
  a value found in the text over one that was not, then the earlier part. A field whose schema says
  `prefer: "first"` (or `"last"`) takes the value of the first (last) part that has one.
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


def _object(
    sources: list[_Source], fields: tuple[FieldSpec, ...], out: list[Evidence], notes: list[str]
) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for spec in fields:
        paths = [(data.get(spec.name), ev, prefix + spec.name) for data, ev, prefix in sources]
        present = [(v, ev, path) for v, ev, path in paths if v is not None]
        if not present:
            merged[spec.name] = None
        elif spec.kind == "object":
            merged[spec.name] = _object([(v, ev, path + ".") for v, ev, path in present], spec.fields, out, notes)
        elif spec.kind == "list":
            merged[spec.name] = _list(present, spec, out, notes)
        else:
            value, ev, path = _best(present, spec)
            merged[spec.name] = value
            if path in ev:
                out.append(ev[path])
    return merged


def _best(present: list[tuple[Any, dict[str, Evidence], str]], spec: FieldSpec) -> tuple[Any, dict[str, Evidence], str]:
    if spec.prefer == "first":
        return present[0]
    if spec.prefer == "last":
        return present[-1]

    def support(i: int) -> tuple[float, bool, int]:
        _, ev, path = present[i]
        e = ev.get(path)
        confidence = e.confidence if e is not None and e.confidence is not None else 0.0
        return (confidence, bool(e is not None and e.grounded), -i)

    return present[max(range(len(present)), key=support)]


def _list(
    present: list[tuple[Any, dict[str, Evidence], str]], spec: FieldSpec, out: list[Evidence], notes: list[str]
) -> list[Any]:
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
    kept = range(len(items))
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
