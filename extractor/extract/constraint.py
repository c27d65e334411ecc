"""The JSON Schema the decoder is held to, derived from the schema's field tree.

It is stricter than the Pydantic model's own JSON Schema, so that a weak model cannot wander:
- every object forbids extra keys and requires every key (optional ones may be null), so the
  answer has a fixed shape and no invented keys;
- strings, lists and numbers are bounded, so a degenerate model cannot loop until the token limit;
- numbers are bare JSON numbers, as models write them (a quoted number makes a model that wants
  to write a digit put its probability on `null`), bounded by a range (which rules out exponents
  and caps the integer digits) and a `multipleOf` (which caps the fraction digits); the answer is
  read with exact decimals (answer.py), so a Decimal field gets the digits the model wrote.
"""

from __future__ import annotations

from typing import Any

from extractor.schema import FieldSpec, SchemaInfo

DEFAULT_MAX_STRING = 200
DEFAULT_MAX_ITEMS = 20
MAX_INTEGER_DIGITS = 18
FLOAT_INTEGER_DIGITS, FLOAT_FRACTION_DIGITS = 15, 6
_DATETIME_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


def generation_schema(schema: SchemaInfo) -> dict[str, Any]:
    return _object(schema.fields)


def _object(fields: tuple[FieldSpec, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {f.name: _field(f) for f in fields},
        "required": [f.name for f in fields],
        "additionalProperties": False,
    }


def _field(spec: FieldSpec) -> dict[str, Any]:
    schema = _base(spec)
    return {"anyOf": [schema, {"type": "null"}]} if spec.nullable else schema


def _base(spec: FieldSpec) -> dict[str, Any]:
    if spec.kind == "string":
        return {"type": "string", "maxLength": spec.max_length or DEFAULT_MAX_STRING}
    if spec.kind in ("integer", "number", "decimal"):
        integer_digits, places = number_digits(spec)
        bound = 10**integer_digits - 1
        if not places:
            return {"type": "integer", "minimum": -bound, "maximum": bound}
        return {"type": "number", "minimum": -bound, "maximum": bound, "multipleOf": float(f"1e-{places}")}
    if spec.kind == "date":
        return {"type": "string", "format": "date"}
    if spec.kind == "datetime":
        # The engine's "date-time" format allows unbounded years; this pattern is bounded.
        return {"type": "string", "pattern": _DATETIME_PATTERN}
    if spec.kind == "boolean":
        return {"type": "boolean"}
    if spec.kind == "choice":
        return {"type": "string", "enum": list(spec.choices)}
    if spec.kind == "list":
        assert spec.item is not None
        return {"type": "array", "items": _field(spec.item), "maxItems": spec.max_length or DEFAULT_MAX_ITEMS}
    if spec.kind == "object":
        return _object(spec.fields)
    raise AssertionError(f"unhandled field kind {spec.kind}")


def number_digits(spec: FieldSpec) -> tuple[int, int]:
    """(most integer digits, most fraction digits) of a number or decimal field's answer."""
    if spec.kind == "integer":
        return MAX_INTEGER_DIGITS, 0
    if spec.kind == "decimal":
        places = spec.decimal_places if spec.decimal_places is not None else FLOAT_FRACTION_DIGITS
        integer_digits = (spec.max_digits - places) if spec.max_digits else FLOAT_INTEGER_DIGITS
        return max(integer_digits, 1), places
    return FLOAT_INTEGER_DIGITS, FLOAT_FRACTION_DIGITS


def number_regex(spec: FieldSpec) -> str:
    """The same bounded bare number as a regular expression (for Lark grammars)."""
    integer_digits, places = number_digits(spec)
    integer = f"-?(0|[1-9][0-9]{{0,{integer_digits - 1}}})"
    return f"{integer}(\\.[0-9]{{1,{places}}})?" if places else integer
