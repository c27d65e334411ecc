"""Which of several places that print the same value the model read.

A quantity `4` can stand in a line item and in the postcode `LS1 4AB`; the first occurrence is
often the wrong one. The values of one record are written in the order of the schema, and the
values of one object (a line item) usually stand on one line or in one table row: so a value's
place is chosen by its context — the places already found for the other values of the same object
(the same line first, then the nearest), else the place of the value the answer gave just before
it (the nearest after it, as documents are read in order). When nothing decides between two places,
the first is kept and the evidence says it is ambiguous.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from extractor.types import Evidence

Span = tuple[int, int]


class LineIndex:
    """Line numbers of character offsets in one text."""

    def __init__(self, text: str):
        self._starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset) - 1


def context(path: str, found: Sequence[Evidence]) -> tuple[list[int], bool]:
    """Offsets the value at `path` should stand near, and whether they are its siblings (values of
    the same object, e.g. `line_items[2].*`) rather than just the previous value of the answer."""
    located = [e for e in found if e.start >= 0]
    owner = path.rpartition(".")[0]
    if owner:
        siblings = [e.start for e in located if e.field.rpartition(".")[0] == owner]
        if siblings:
            return siblings, True
    return ([located[-1].start], False) if located else ([], False)


def choose(candidates: Sequence[Span], anchors: Sequence[int], siblings: bool, lines: LineIndex) -> tuple[Span, bool]:
    """(the chosen place, whether that choice is ambiguous). `candidates` are in text order."""
    if len(candidates) == 1:
        return candidates[0], False
    if not anchors:
        return candidates[0], True

    def key(span: Span) -> tuple[int, int]:
        start = span[0]
        if siblings:
            same_line = any(lines.line(start) == lines.line(a) for a in anchors)
            return (0 if same_line else 1, min(abs(start - a) for a in anchors))
        after = start - anchors[-1]
        return (0 if after >= 0 else 1, abs(after))  # the nearest after the previous value, else before it

    ranked = sorted(candidates, key=key)
    ambiguous = key(ranked[0]) == key(ranked[1])
    return ranked[0], ambiguous


def ambiguity_note(count: int) -> str:
    return f"ambiguous: printed in {count} places, none nearer the record's other values"
