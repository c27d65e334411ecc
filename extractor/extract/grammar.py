"""Grounded decoding: a per-document grammar in which extractive fields can only be spans of the
document text.

The grammar (llguidance's Lark dialect) writes the same compact JSON as the JSON-Schema constraint,
with one difference: where a field is extractive, the string between the quotes must be a
substring of the document, cut at word boundaries (`%regex {"substring_chunks": ...}`). Chunks are
JSON-escaped, so the answer stays valid JSON and decodes to the exact text. Dates and numbers are
extractive too, in either of two forms: copied as printed ("05.06.2018", "1.234,50", parsed
afterwards by `typed.py`), or written the way models write them, a date in ISO form and a number as
a bare JSON number, restricted to the dates and numbers the text prints ("2018-06-05", 1234.5 or
1234.50) and grounded afterwards by the evidence search. Offering only the printed form makes a model
that starts "2018-" for 05.06.2018 finish with whatever printed text starts that way (an order number
"2018-471331"), and one that wants to write a digit write null instead of a quote; offering any bare
number lets a weak model write the prompt's example amount.

A date field takes one of the dates the text prints (evidence.py's date pattern, read by dateparser
in the document's date order), as printed or in ISO form, a short list of literals. With any printed
span on offer, a small model that started "20" finished on "2022" (a copyright line) or on an order
number. Only where a text shows nothing that reads as a date may a date field take any span of a
line with a digit, so a format the pattern does not know can still be copied. Abstractive fields
(choices, booleans, free phrases) keep an ordinary bounded constraint.

Compile cost is bounded by design. llguidance compiles each terminal to a lazily built automaton
and, before decoding, walks the tokenizer's vocabulary through the large ones. A substring set is
linear in the text it is built from, and every terminal here is one substring set intersected only
with a length bound and with classes of its first and last characters, whose automata are small.
What is never used is a "holds a digit somewhere" conjunct (`SPAN & /.*[0-9].*/ & /.{1,60}/`), nor
"ends in a digit": on real text their product with the substring set made the vocabulary walk run
out of fuel on one-page invoices (`lexer precomputation failed`). Amounts (and dates, where a text
prints none that reads as one) are instead copied from the document's lines that hold a digit (a
smaller substring set of their own); an amount must show a digit within its first few characters;
a date span without a digit types to null, with a note saying why (typed.py). The text itself is
one part of a document, bounded by the prompt budget, so a 100-page document costs its parts, never
one 100-page grammar (bench/grammar_compile.py).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from extractor.extract.constraint import (
    DEFAULT_MAX_ITEMS,
    DEFAULT_MAX_STRING,
    MAX_INTEGER_DIGITS,
    number_digits,
    number_regex,
)
from extractor.schema import FieldSpec, SchemaInfo

if TYPE_CHECKING:
    from extractor.extract.evidence import TextIndex

# Numbers (with their separators: "1,234.56" is one chunk, so a span cannot start inside it), words,
# runs of whitespace, and single other characters: spans start and end on these boundaries.
CHUNK = re.compile(r"\d+(?:[.,]\d+)*|\w+|\s+|[^\w\s]")
_DIGIT = re.compile(r"[0-9]")
PRINTED_MAX = 60  # characters of a printed date or amount
# One JSON string character ("/" left out of the escapes: it would end the Lark /regex/).
_JSON_CHAR = r'(\\(["\\bfnrt]|u[a-fA-F0-9]{4})|[^"\\\x00-\x1F\x7F])'


def text_chunks(text: str) -> list[str]:
    return [json.dumps(chunk, ensure_ascii=False)[1:-1] for chunk in CHUNK.findall(text)]


def grounded_grammar(schema: SchemaInfo, text: str) -> str:
    """The Lark grammar for one document (or one part of a long one)."""
    builder = _Builder(text)
    root = builder.object(schema.fields)
    lines = [f"start: {root}", *builder.rules]
    if builder.span_lengths:
        lines.append(f"SPAN: {_substrings(text)}")
    # A span starts on a word, not on a space or a separator, and does not end in a space.
    for length in sorted(builder.span_lengths):
        lines.append(f"SPAN{length}: SPAN & /.{{1,{length}}}/ & /[^ ,.;:\\\\](.*[^ ])?/")
    # Printed dates and amounts are copied from one line that holds a digit (no escapes: a line
    # break is one). A date field takes a date the text prints, as printed or in ISO form (as the
    # prompt asks and models prefer), and any such span only where the text shows nothing that
    # reads as a date.
    dates = builder.printed_dates if "date" in builder.printed else []
    if builder.printed - {"date"} or ("date" in builder.printed and not dates):
        lines.append(f"PRINTED: {_substrings(numeric_lines(text))} & /[^\\\\]{{1,{PRINTED_MAX}}}/")
    if "date" in builder.printed:
        lines.append("DATE: " + (" | ".join(_literal(d) for d in dates) if dates else _ANY_PRINTED_DATE))
    if "datetime" in builder.printed:
        iso = "".join(f" | {_literal(d)}" for d in builder.iso_dates)
        lines.append(f"DATETIME: {_ANY_PRINTED_DATE}{iso}")
    # An amount starts with a digit, or with a sign or currency symbol and a digit within the next
    # few characters, so ", 1", ".5", "C31298" or a lone "$" cannot pass for one.
    if "amount" in builder.printed:
        lines.append("AMOUNT: PRINTED & /([0-9]|[€$£¥+\\-][^0-9]{0,4}[0-9])(.*[0-9A-Za-z€$£¥])?/")
    for name, forms in builder.number_terminals.items():
        lines.append(f"{name}: " + " | ".join(_literal(f) for f in forms))
    for length in sorted(builder.string_lengths):
        lines.append(f'STRING{length}: /"{_JSON_CHAR}{{0,{length}}}"/')
    return "\n".join(lines) + "\n"


def number_forms(values: Iterable[Decimal], spec: FieldSpec) -> list[str]:
    """The bare JSON numbers a model may write for `values` (numbers a text prints) in a field of
    `spec`'s type and bounds: "1234.5" and "1234.50" for 1.234,50; "100", "100.0", "100.00" for 100."""
    pattern = re.compile(number_regex(spec))
    forms: set[str] = set()
    for value in values:
        if value.adjusted() >= MAX_INTEGER_DIGITS:
            continue  # longer than any number field allows (an account number, a barcode)
        whole = value == value.to_integral_value()
        if spec.kind == "integer" and not whole:
            continue
        plain = format(value.normalize(), "f")
        candidates = {plain, plain + ".0"} if whole else {plain}
        cents = value.quantize(Decimal("0.01"))
        if cents == value:
            candidates.add(format(cents, "f"))
        forms.update(c for c in candidates if pattern.fullmatch(c))
    return sorted(forms)


def numeric_lines(text: str) -> str:
    """The lines of `text` that hold a digit (where a printed date or amount can be), in order."""
    return "".join(line for line in text.splitlines(keepends=True) if _DIGIT.search(line)) or "0"


def _substrings(text: str) -> str:
    return "%regex " + json.dumps({"substring_chunks": text_chunks(text)}, ensure_ascii=False)


def _literal(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a Lark string literal is a JSON string literal


class _Builder:
    def __init__(self, text: str) -> None:
        self.text = text
        self.rules: list[str] = []
        self.span_lengths: set[int] = set()
        self.string_lengths: set[int] = set()
        self.printed: set[str] = set()
        self.number_terminals: dict[str, list[str]] = {}
        self._count = 0

    @functools.cached_property
    def _index(self) -> TextIndex:
        from extractor.extract.evidence import TextIndex

        return TextIndex(self.text)

    @functools.cached_property
    def iso_dates(self) -> list[str]:
        return sorted(d.isoformat() for d in self._index.dates())

    @functools.cached_property
    def printed_dates(self) -> list[str]:
        """The dates the text prints, each as printed (JSON-escaped) and in ISO form."""
        printed = {
            json.dumps(self.text[start:end], ensure_ascii=False)[1:-1]
            for spans in self._index.dates().values()
            for start, end in spans
        }
        return sorted(printed | set(self.iso_dates))

    @functools.cached_property
    def _printed_numbers(self) -> list[Decimal]:
        """The numbers the text prints, negative where a minus sign stands before them."""
        values = []
        for value, spans in self._index.numbers().items():
            values.append(value)
            if any(self.text[start] in "-\u2212" for start, _end in spans):
                values.append(-value)
        return values

    def number_terminal(self, spec: FieldSpec) -> str | None:
        """The terminal of the bare numbers the text prints that fit `spec` (None: it prints none)."""
        name = "NUMBER{}_{}".format(*number_digits(spec))
        if name not in self.number_terminals:
            self.number_terminals[name] = number_forms(self._printed_numbers, spec)
        return name if self.number_terminals[name] else None

    def _rule(self, body: str) -> str:
        self._count += 1
        name = f"r{self._count}"
        self.rules.append(f"{name}: {body}")
        return name

    def object(self, fields: tuple[FieldSpec, ...]) -> str:
        parts = []
        for i, spec in enumerate(fields):
            key = ("" if i == 0 else ", ") + json.dumps(spec.name) + ": "
            parts.append(f"{_literal(key)} {self.field(spec)}")
        return self._rule(f'"{{" {" ".join(parts)} "}}"')

    def field(self, spec: FieldSpec) -> str:
        body = self.value(spec)
        return self._rule(f'{body} | "null"') if spec.nullable else body

    def value(self, spec: FieldSpec) -> str:
        kind = spec.kind
        if kind == "object":
            return self.object(spec.fields)
        if kind == "list":
            assert spec.item is not None
            item = self.field(spec.item)
            most = spec.max_length or DEFAULT_MAX_ITEMS
            more = f' (", " {item}){{0,{most - 1}}}' if most > 1 else ""
            return self._rule(f'"[" ({item}{more})? "]"')
        if kind == "choice":
            return self._rule(" | ".join(_literal(json.dumps(c)) for c in spec.choices))
        if kind == "boolean":
            return self._rule('"true" | "false"')
        if spec.extractive and kind == "string":
            length = spec.max_length or DEFAULT_MAX_STRING
            self.span_lengths.add(length)
            return self._rule(f'"\\"" SPAN{length} "\\""')
        if spec.extractive and kind in ("date", "datetime"):
            self.printed.add(kind)
            return self._rule(f'"\\"" {kind.upper()} "\\""')
        if spec.extractive:
            # A number is copied as printed ("1.234,56 €", in quotes), or written as a bare JSON
            # number, the way models write numbers: one of the numbers the text prints.
            self.printed.add("amount")
            bare = self.number_terminal(spec)
            return self._rule('"\\"" AMOUNT "\\""' + (f" | {bare}" if bare else ""))
        if kind == "string":
            length = spec.max_length or DEFAULT_MAX_STRING
            self.string_lengths.add(length)
            return f"STRING{length}"
        if kind in ("integer", "number", "decimal"):
            return f"/{number_regex(spec)}/"  # a bare bounded number, as under the JSON-Schema constraint
        return _CANONICAL[kind]  # abstractive dates, in ISO form as under the JSON-Schema constraint


# Any span of a line with a digit that starts and ends on a word character.
_ANY_PRINTED_DATE = "(PRINTED & /\\w(.*\\w)?/)"
_ISO_DATE = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_CANONICAL = {
    "date": f'/"{_ISO_DATE}"/',
    "datetime": r'/"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?"/',
}
