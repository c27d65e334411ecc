"""Stage 2: Documents + schema + Engine -> Records.

Each document becomes a prompt (truncated to the token budget, flagged when it was) and a
constraint: the schema's JSON Schema, or with grounded decoding a grammar in which extractive
fields can only be spans of that document. The engine answers a whole batch; grounded answers
are typed by parsers and keep their evidence; each answer is validated by the Pydantic model.
A cut-off or invalid answer becomes a failed Record for that document only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pydantic

from extractor.config import RunConfig
from extractor.engines.base import Constraint, Engine
from extractor.errors import ConfigError, ExtractionError, InvalidOutput, OutputTruncated
from extractor.extract.constraint import generation_schema
from extractor.extract.grammar import grounded_grammar
from extractor.extract.grounded import resolve
from extractor.extract.prompt import build_prompt, instructions
from extractor.schema import SchemaInfo
from extractor.types import Document, ErrorInfo, Evidence, Generation, Provenance, Record, Stage, Status

log = logging.getLogger(__name__)

MIN_DOCUMENT_TOKENS = 64
# Tokens the chat template and the prompt's fixed wording add around the document text.
_TEMPLATE_SLACK_TOKENS = 64


def document_budget(engine: Engine, schema: SchemaInfo, config: RunConfig) -> int:
    """How many tokens of document text fit beside the instructions and the answer."""
    fixed = engine.count_tokens(instructions(schema)) + _TEMPLATE_SLACK_TOKENS
    room = engine.max_context_tokens - config.max_new_tokens - fixed
    if room < MIN_DOCUMENT_TOKENS:
        raise ConfigError(
            f"the model's context ({engine.max_context_tokens} tokens) leaves {max(room, 0)} tokens for the document "
            f"after the instructions ({fixed}) and the answer budget ({config.max_new_tokens}); lower max_new_tokens"
        )
    return min(config.max_input_tokens, room)


def extract_batch(
    docs: Sequence[Document],
    schema: SchemaInfo,
    engine: Engine,
    config: RunConfig,
    parse_s: Sequence[float] | None = None,
) -> list[Record]:
    """One Record per document, in order."""
    if not docs:
        return []
    budget = document_budget(engine, schema, config)
    grounded = config.decoding == "grounded"
    json_constraint = Constraint(json_schema=generation_schema(schema))
    prompts, texts, constraints = [], [], []
    for doc in docs:
        kept = engine.truncate(doc.text, budget)
        truncated = len(kept) < len(doc.text.rstrip())
        if truncated:
            log.warning(
                "%s: only the first %d of %d characters fit the %d-token prompt budget (truncated)",
                doc.source,
                len(kept),
                len(doc.text),
                budget,
            )
        prompts.append(build_prompt(schema, kept, truncated=truncated))
        texts.append(kept)
        constraints.append(Constraint(lark=grounded_grammar(schema, kept)) if grounded else json_constraint)
    started = time.perf_counter()
    generations = engine.generate([p.messages for p in prompts], constraints, config.max_new_tokens)
    per_doc_s = (time.perf_counter() - started) / len(docs)
    extracted_at = datetime.now(UTC).isoformat(timespec="seconds")
    records = []
    for i, (doc, prompt, text, generation) in enumerate(zip(docs, prompts, texts, generations, strict=True)):
        provenance = Provenance(
            model_id=engine.model_id,
            schema_name=schema.name,
            schema_fingerprint=schema.fingerprint,
            extracted_at=extracted_at,
            truncated=prompt.truncated,
            decoding=config.decoding,
            prompt_tokens=generation.prompt_tokens,
            completion_tokens=generation.completion_tokens,
            parse_s=parse_s[i] if parse_s else 0.0,
            extract_s=per_doc_s,
            ocr_pages=sum(p.ocr_confidence is not None for p in doc.pages),
        )
        evidence: list[Evidence] = []
        data: dict[str, Any] | None = None
        error: ErrorInfo | None = None
        try:
            answer = parse_answer(generation)
            if grounded:
                answer, evidence = resolve(answer, schema.fields, doc, text)
            data = validate(answer, schema)
        except ExtractionError as exc:
            if config.on_error == "raise":
                raise
            error = ErrorInfo(Stage.VALIDATE, type(exc).__name__, str(exc))
        records.append(
            Record(
                source=doc.source,
                status=Status.FAILED if error else Status.OK,
                doc_id=doc.doc_id,
                kind=doc.kind,
                data=data,
                error=error,
                provenance=provenance,
                evidence=tuple(evidence) if error is None else (),
            )
        )
    return records


def parse_answer(generation: Generation) -> dict[str, Any]:
    """The answer's JSON object, or OutputTruncated / InvalidOutput."""
    if not generation.finished:
        raise OutputTruncated(f"answer cut off at {generation.completion_tokens} tokens (raise max_new_tokens)")
    try:
        answer = json.loads(generation.text)
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
