"""One record from the records of a long document's parts.

- A scalar takes the best-supported non-null value among the parts: the highest confidence, then
  a value found in the text over one that was not, then the earlier part. A field whose schema says
  `prefer: "first"` (or `"last"`) takes the value of the first (last) part that has one.
- A nested object merges field by field, by the same rules.
- A list is the union of the parts' lists in document order, without duplicates (an item the
  overlap between two parts made twice is kept once).
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


def merge(parts: Sequence[Part], fields: tuple[FieldSpec, ...]) -> tuple[dict[str, Any], list[Evidence]]:
    evidence: list[Evidence] = []
    data = _object([(p.data, p.evidence, "") for p in parts], fields, evidence)
    return data, evidence


_Source = tuple[dict[str, Any], dict[str, Evidence], str]  # (values, evidence of the part, path prefix)


def _object(sources: list[_Source], fields: tuple[FieldSpec, ...], out: list[Evidence]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for spec in fields:
        paths = [(data.get(spec.name), ev, prefix + spec.name) for data, ev, prefix in sources]
        present = [(v, ev, path) for v, ev, path in paths if v is not None]
        if not present:
            merged[spec.name] = None
        elif spec.kind == "object":
            merged[spec.name] = _object([(v, ev, path + ".") for v, ev, path in present], spec.fields, out)
        elif spec.kind == "list":
            merged[spec.name] = _list(present, spec, out)
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


def _list(present: list[tuple[Any, dict[str, Evidence], str]], spec: FieldSpec, out: list[Evidence]) -> list[Any]:
    items: list[Any] = []
    seen: set[str] = set()
    for values, ev, path in present:  # objects are merged in place, so `path` is the merged path too
        for i, item in enumerate(values):
            key = json.dumps(item, sort_keys=True, default=str)
            if key in seen:
                continue
            seen.add(key)
            old, new = f"{path}[{i}]", f"{path}[{len(items)}]"
            for e in ev.values():
                if e.field == old or e.field.startswith((old + ".", old + "[")):
                    out.append(replace(e, field=new + e.field[len(old) :]))
            items.append(item)
    return items
