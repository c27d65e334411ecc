"""Source grounding: where in the document text each extracted value stands.

For every extractive value the search tries, in order:
- **exact**: the value as written appears in the text;
- **normalised**: case and whitespace folded for strings; for amounts every number printed in the
  text is parsed (`1.234,56`, `1 234,56`, `1,234.56` all read 1234.56) and compared by value; for
  dates every date-like span is parsed (`01/03/2024`, `1 March 2024`, `2024-03-01`) in the
  document's own day/month order and compared by value;
- **fuzzy** (strings only): the best approximate alignment of the folded value in the folded text
  (rapidfuzz's bit-parallel partial-ratio alignment: linear in the text, not quadratic), accepted
  at a similarity of 85/100 or more.
A value found nowhere is *ungrounded* (`grounded = False`): likely made up by the model.

Where a value is printed in several places, the place is chosen by the places of the record's
other values (occurrence.py): the quantity of a line item on the line item's own row, not inside a
postcode. When nothing decides, the first is kept and the evidence notes the ambiguity.

`TextIndex` prepares a document once, on first use (folded text with an offset map, the parsed
numbers, the parsed dates), so the many look-ups of one record cost little even on long documents,
and a record that needs no search (grounded decoding) costs nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from extractor.extract.occurrence import LineIndex, Span, ambiguity_note, choose, context
from extractor.extract.typed import date_order, parse_printed
from extractor.schema import FieldSpec, map_leaves
from extractor.types import Document, Evidence

FUZZY_CUTOFF = 85.0
MIN_FUZZY_CHARS = 4  # shorter strings are matched exactly or not at all

_NUMBER = re.compile(
    r"(?<![\w.,])[-+]?\d{1,3}(?:[ .,'\u00a0\u202f]\d{3})+(?:[.,]\d+)?(?!\w)"  # grouped: 1.234,56 / 1 234
    r"|(?<![\w.,])[-+]?\d+(?:[.,]\d+)?(?!\w)"  # plain: 1234.56 / 1234,56
)
# A printed date: what dateparser (typed.parse_printed) then reads as one, in the text's date order,
# is one. The grammar offers exactly these spans (and their ISO forms) for a date field.
_MONTH = r"[A-Za-zÀ-ÿ]{3,}\.?"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?\.?"
_DATE = re.compile(
    r"\b\d{4}[/.\-]\d{1,2}[/.\-]\d{1,2}\b"  # 2018-03-05, 2018/03/05
    r"|\b\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}\b"  # 05/03/2018, 5.3.18
    rf"|\b{_DAY}[ \t\-/]*{_MONTH}[ \t\-/,]*\d{{2,4}}\b"  # 5. März 2018, 05-Mar-24, 25DEC2018, 5th May 2024
    rf"|\b{_MONTH}[ \t]+{_DAY},?[ \t]+\d{{4}}\b"  # March 5, 2024
)


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    match: str  # "exact" | "normalised" | "fuzzy"
    places: int = 1  # when > 1: printed in that many places and nothing decided which one was read


_Near = tuple[list[int], bool]  # (offsets of the record's other values, whether they are siblings)


class TextIndex:
    """One document's text, prepared for many value look-ups."""

    def __init__(self, text: str):
        self.text = text
        self._numbers: dict[Decimal, list[tuple[int, int]]] | None = None
        self._dates: dict[dt.date, list[tuple[int, int]]] | None = None

    @functools.cached_property
    def _folding(self) -> tuple[str, list[int]]:
        return _fold(self.text)

    @property
    def folded(self) -> str:
        return self._folding[0]

    @functools.cached_property
    def order(self) -> str:
        return date_order(self.text)

    @functools.cached_property
    def lines(self) -> LineIndex:
        return LineIndex(self.text)

    def find(self, value: Any, spec: FieldSpec, near: _Near = ([], False)) -> Found | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float, Decimal)):
            return self._find_number(value, near)
        if isinstance(value, dt.datetime):
            return self._find_date(value.date(), near)
        if isinstance(value, dt.date):
            return self._find_date(value, near)
        return self._find_string(str(value), near)

    def _pick(self, spans: list[Span], match: str, near: _Near) -> Found | None:
        if not spans:
            return None
        (start, end), ambiguous = choose(sorted(spans), near[0], near[1], self.lines)
        return Found(start, end, match, len(spans) if ambiguous else 1)

    # -- strings -------------------------------------------------------------------------------

    def _find_string(self, value: str, near: _Near) -> Found | None:
        if not value.strip():
            return None
        exact = _all(self.text, value)
        if exact:
            return self._pick(exact, "exact", near)
        needle = _fold(value)[0]
        if not needle:
            return None
        folded = _all(self.folded, needle)
        if folded:
            return self._pick([self._original(a, b) for a, b in folded], "normalised", near)
        if len(needle) < MIN_FUZZY_CHARS:
            return None
        from rapidfuzz import fuzz

        hit = fuzz.partial_ratio_alignment(needle, self.folded, score_cutoff=FUZZY_CUTOFF)
        if hit is None or hit.dest_end <= hit.dest_start:
            return None
        return Found(*self._original(hit.dest_start, hit.dest_end), "fuzzy")

    def _original(self, start: int, end: int) -> tuple[int, int]:
        """Folded offsets -> offsets in the original text."""
        where = self._folding[1]
        return where[start], where[end - 1] + 1

    # -- numbers and dates ---------------------------------------------------------------------

    def _find_number(self, value: int | float | Decimal, near: _Near) -> Found | None:
        try:
            wanted = Decimal(str(value))
        except InvalidOperation:
            return None
        exact = {
            (m.start(), m.end())
            for printed in {str(value), format(wanted, "f")}
            for m in re.finditer(re.escape(printed), self.text)
            if _alone(self.text, m.start(), m.end())
        }
        if exact:
            return self._pick(list(exact), "exact", near)
        return self._pick(list(self.numbers().get(wanted.normalize(), [])), "normalised", near)

    def _find_date(self, value: dt.date, near: _Near) -> Found | None:
        exact = _all(self.text, value.isoformat())
        if exact:
            return self._pick(exact, "exact", near)
        return self._pick(list(self.dates().get(value, [])), "normalised", near)

    def numbers(self) -> dict[Decimal, list[tuple[int, int]]]:
        if self._numbers is None:
            from price_parser import Price

            found: dict[Decimal, list[tuple[int, int]]] = defaultdict(list)
            for m in _NUMBER.finditer(self.text):
                amount = Price.fromstring(m.group().strip()).amount
                if amount is not None:
                    found[amount.normalize()].append((m.start(), m.end()))
            self._numbers = dict(found)
        return self._numbers

    def dates(self) -> dict[dt.date, list[tuple[int, int]]]:
        if self._dates is None:
            spec = FieldSpec(name="date", kind="date")
            found: dict[dt.date, list[tuple[int, int]]] = defaultdict(list)
            for m in _DATE.finditer(self.text):
                parsed, _note = parse_printed(spec, m.group(), self.order)
                if isinstance(parsed, dt.date):
                    found[parsed].append((m.start(), m.end()))
            self._dates = dict(found)
        return self._dates


def _all(text: str, needle: str) -> list[Span]:
    spans, at = [], text.find(needle)
    while at >= 0:
        spans.append((at, at + len(needle)))
        at = text.find(needle, at + 1)
    return spans


def _alone(text: str, start: int, end: int) -> bool:
    """The match is a whole number in the text, not part of a longer one (12 in 1234)."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isdigit() or after.isdigit() or (after in ".," and text[end + 1 : end + 2].isdigit()))


def _fold(text: str) -> tuple[str, list[int]]:
    """Casefolded text with whitespace runs collapsed to one space, and for each folded character
    the offset of the original character it came from."""
    out: list[str] = []
    where: list[int] = []
    space = True  # leading whitespace dropped
    for i, ch in enumerate(text):
        if ch.isspace():
            if not space:
                out.append(" ")
                where.append(i)
                space = True
            continue
        space = False
        for folded in ch.casefold():
            out.append(folded)
            where.append(i)
    if out and out[-1] == " ":
        out.pop()
        where.pop()
    return "".join(out), where


def locate(
    data: dict[str, Any],
    fields: tuple[FieldSpec, ...],
    doc: Document,
    index: TextIndex,
    printed: dict[str, Evidence],
    confidence: dict[str, float],
) -> list[Evidence]:
    """Evidence for every non-null leaf of a validated record: the printed span grounded decoding
    copied (`printed`, by path) or else a search of the document text; with each value's confidence."""
    out: list[Evidence] = []

    def leaf(value: Any, spec: FieldSpec, path: str) -> Any:
        conf = confidence.get(path)
        if path in printed:
            e = printed[path]
            found = e.start >= 0
            out.append(replace(e, match="exact" if found else "none", grounded=found, confidence=conf))
        elif spec.extractive:
            hit = index.find(value, spec, context(path, out))
            if hit is None:
                out.append(Evidence(path, "", -1, -1, match="none", grounded=False, confidence=conf))
            else:
                page = doc.page_at(hit.start)
                out.append(
                    Evidence(
                        field=path,
                        text=doc.text[hit.start : hit.end],
                        start=hit.start,
                        end=hit.end,
                        page=page.number if page else None,
                        origin=page.origin if page else "",
                        match=hit.match,
                        grounded=True,
                        confidence=conf,
                        note=ambiguity_note(hit.places) if hit.places > 1 else "",
                    )
                )
        else:
            out.append(Evidence(path, "", -1, -1, confidence=conf))
        return value

    map_leaves(data, fields, leaf)
    seen = {e.field for e in out}
    for path, e in printed.items():  # printed spans that did not parse (the value is null, the note says why)
        if path not in seen:
            found = e.start >= 0
            out.append(replace(e, match="exact" if found else "none", grounded=found, confidence=confidence.get(path)))
    return out
