"""Printed spans -> typed values, with well-kept parsers: dateparser for dates, price-parser for
amounts. A span that does not parse becomes null with a recorded reason, never a made-up value."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from extractor.schema import FieldSpec

_NUMERIC_DATE = re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{2,4})\b")


def date_order(text: str) -> str:
    """The day/month order of the document's numeric dates: a 13+ in first place means DMY, in
    second place MDY. With no evidence either way, DMY (most of the world, and all of Europe)."""
    for first, second, _ in _NUMERIC_DATE.findall(text):
        if int(first) > 12 >= int(second):
            return "DMY"
        if int(second) > 12 >= int(first):
            return "MDY"
    return "DMY"


def parse_printed(spec: FieldSpec, printed: str, order: str = "DMY") -> tuple[Any, str]:
    """(value, note): the typed value of a printed span, or (None, why not)."""
    text = " ".join(printed.split())
    kind = spec.kind
    if kind == "string":
        return text, ""
    if kind in ("date", "datetime"):
        import dateparser

        settings = {
            "DATE_ORDER": order,
            "REQUIRE_PARTS": ["day", "month", "year"],
            "PREFER_DAY_OF_MONTH": "first",
            # Printed dates only: dateparser's other parsers read a long number as a Unix timestamp
            # (an invoice's "2018092011804" was 2033-12-13), "20180305" as 8030-01-20, and "2 days
            # ago" relative to the day of the run.
            "PARSERS": ["custom-formats", "absolute-time"],
        }
        parsed = dateparser.parse(text, settings=settings)
        if parsed is None:
            return None, f"not a date: {text!r}"
        return (parsed.date() if kind == "date" else parsed.replace(tzinfo=None)), ""
    if kind in ("decimal", "number", "integer"):
        from price_parser import Price

        amount = Price.fromstring(text).amount
        if amount is None:
            return None, f"not a number: {text!r}"
        if kind == "integer":
            if amount != amount.to_integral_value():
                return None, f"not a whole number: {text!r}"
            return int(amount), ""
        if kind == "number":
            return float(amount), ""
        return _quantize(amount, spec.decimal_places), ""
    return printed, ""


def _quantize(value: Decimal, places: int | None) -> Decimal:
    if places is None:
        return value
    try:
        return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return value


__all__ = ["date_order", "parse_printed"]
