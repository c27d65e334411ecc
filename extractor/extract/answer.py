"""One answer of the model -> validated values: parse the JSON, type the printed spans, validate
against the user's Pydantic model, attach evidence and confidence."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pydantic

from extractor.errors import InvalidOutput, OutputTruncated
from extractor.extract.chunks import Chunk
from extractor.extract.confidence import field_confidence
from extractor.extract.evidence import TextIndex, locate
from extractor.extract.merge import Part
from extractor.extract.spans import read_spans
from extractor.schema import SchemaInfo
from extractor.types import Document, Evidence, Generation


def read_part(
    generation: Generation,
    doc: Document,
    index: TextIndex,
    chunk: Chunk,
    schema: SchemaInfo,
    copied_spans: bool,
) -> Part:
    """One answer -> validated values and the evidence of each, by field path. `copied_spans`: the
    answer was decoded under the grounded grammar, so its extractive values are spans of the text."""
    answer = parse_answer(generation)
    printed: dict[str, Evidence] = {}
    if copied_spans:
        answer, spans = read_spans(answer, schema.fields, doc, doc.text[chunk.start : chunk.end], offset=chunk.start)
        printed = {e.field: e for e in spans}
    data = validate(answer, schema)
    confidence = field_confidence(generation.text, generation.token_ends, generation.token_logprobs)
    evidence = locate(data, schema.fields, doc, index, printed, confidence)
    return Part(data, {e.field: e for e in evidence})


def parse_answer(generation: Generation) -> dict[str, Any]:
    """The answer's JSON object, or OutputTruncated / InvalidOutput."""
    if not generation.finished:
        raise OutputTruncated(f"answer cut off at {generation.completion_tokens} tokens (raise max_new_tokens)")
    try:
        answer = json.loads(generation.text, parse_float=Decimal)  # exact digits for Decimal fields
    except ValueError as exc:
        raise InvalidOutput(f"answer is not JSON: {exc}") from exc
    if not isinstance(answer, dict):
        raise InvalidOutput(f"answer is a JSON {type(answer).__name__}, not an object")
    return answer


def validate(answer: dict[str, Any], schema: SchemaInfo) -> dict[str, Any]:
    """The answer as validated Python values, or InvalidOutput saying what is wrong."""
    try:
        model = schema.model.model_validate(answer)
    except pydantic.ValidationError as exc:
        raise InvalidOutput(f"answer does not match the schema: {_summary(exc)}") from exc
    return model.model_dump(mode="python")


def _summary(exc: pydantic.ValidationError) -> str:
    errors = exc.errors()[:3]
    text = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in errors)
    more = exc.error_count() - len(errors)
    return text + (f"; and {more} more" if more > 0 else "")
