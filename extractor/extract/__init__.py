"""Stage 2: Documents + schema + Engine -> Records.

Each document becomes one prompt, or for a document longer than the token budget one prompt per
part (chunks.py; merged back by merge.py), and a constraint: the schema's JSON Schema, or with
grounded decoding a grammar in which extractive fields can only be spans of that text. The engine
answers a whole batch; grounded answers are typed by parsers; each answer is validated by the
Pydantic model. Every value gets its evidence in the document text and a confidence from the
answer's token probabilities (evidence.py, confidence.py). A cut-off or invalid answer becomes a
failed Record for that document only.
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
from extractor.extract.chunks import Chunk, covered, split
from extractor.extract.confidence import field_confidence
from extractor.extract.constraint import generation_schema
from extractor.extract.evidence import TextIndex, ground
from extractor.extract.grammar import grounded_grammar
from extractor.extract.grounded import resolve
from extractor.extract.merge import Part, merge
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
    """One Record per document, in order. A document longer than the prompt budget is read in
    parts (or truncated, with `long_documents="truncate"`); all parts of all documents go to the
    engine together."""
    if not docs:
        return []
    budget = document_budget(engine, schema, config)
    grounded = config.decoding == "grounded"
    json_constraint = Constraint(json_schema=generation_schema(schema))
    jobs: list[tuple[int, Chunk]] = []
    truncated: list[bool] = []
    for i, doc in enumerate(docs):
        if config.long_documents == "chunk":
            chunks = split(doc, engine, budget, config.chunk_overlap_tokens, config.max_chunks)
            cut = not covered(chunks, doc)
        else:
            kept = engine.truncate(doc.text, budget)
            chunks, cut = [Chunk(0, len(kept))], len(kept) < len(doc.text.rstrip())
        if cut:
            log.warning(
                "%s: only the first %d of %d characters were read (%d-token prompt budget, %s)",
                doc.source,
                chunks[-1].end,
                len(doc.text),
                budget,
                f"at most {config.max_chunks} parts" if config.long_documents == "chunk" else "truncated",
            )
        truncated.append(cut)
        jobs.extend((i, chunk) for chunk in chunks)
    texts = [docs[i].text[c.start : c.end] for i, c in jobs]
    prompts = [
        build_prompt(schema, text, truncated=truncated[i]).messages for (i, _), text in zip(jobs, texts, strict=True)
    ]
    constraints = [Constraint(lark=grounded_grammar(schema, text)) if grounded else json_constraint for text in texts]
    started = time.perf_counter()
    generations = engine.generate(prompts, constraints, config.max_new_tokens)
    per_doc_s = (time.perf_counter() - started) / len(docs)
    indexes = [TextIndex(doc.text) for doc in docs]  # one per document, shared by its parts; prepared on first search
    parts: list[list[Part]] = [[] for _ in docs]
    errors: list[list[ExtractionError]] = [[] for _ in docs]
    for (i, chunk), text, generation in zip(jobs, texts, generations, strict=True):
        try:
            parts[i].append(_read_part(generation, docs[i], indexes[i], chunk, text, schema, grounded))
        except ExtractionError as exc:
            if config.on_error == "raise":
                raise
            errors[i].append(exc)
    extracted_at = datetime.now(UTC).isoformat(timespec="seconds")
    records = []
    for i, doc in enumerate(docs):
        chunk_count = sum(1 for j, _ in jobs if j == i)
        tokens = [g for (j, _), g in zip(jobs, generations, strict=True) if j == i]
        provenance = Provenance(
            model_id=engine.model_id,
            schema_name=schema.name,
            schema_fingerprint=schema.fingerprint,
            extracted_at=extracted_at,
            truncated=truncated[i],
            decoding=config.decoding,
            prompt_tokens=sum(g.prompt_tokens for g in tokens),
            completion_tokens=sum(g.completion_tokens for g in tokens),
            parse_s=parse_s[i] if parse_s else 0.0,
            extract_s=per_doc_s,
            ocr_pages=sum(p.ocr_confidence is not None for p in doc.pages),
            chunks=chunk_count,
        )
        data: dict[str, Any] | None = None
        evidence: list[Evidence] = []
        error: ErrorInfo | None = None
        try:
            if not parts[i]:
                raise errors[i][0]
            if errors[i]:
                log.warning("%s: %d of %d parts failed: %s", doc.source, len(errors[i]), chunk_count, errors[i][0])
            if len(parts[i]) == 1:
                data, by_field = parts[i][0].data, parts[i][0].evidence
                evidence = list(by_field.values())
            else:
                merged, evidence = merge(parts[i], schema.fields)
                data = validate(merged, schema)
        except ExtractionError as exc:
            if config.on_error == "raise":
                raise
            error, data, evidence = ErrorInfo(Stage.VALIDATE, type(exc).__name__, str(exc)), None, []
        records.append(
            Record(
                source=doc.source,
                status=Status.FAILED if error else Status.OK,
                doc_id=doc.doc_id,
                kind=doc.kind,
                data=data,
                error=error,
                provenance=provenance,
                evidence=tuple(evidence),
                review=review_reasons(evidence, config.min_confidence) if error is None else (),
            )
        )
    return records


def _read_part(
    generation: Generation,
    doc: Document,
    index: TextIndex,
    chunk: Chunk,
    text: str,
    schema: SchemaInfo,
    grounded: bool,
) -> Part:
    """One answer -> validated values and the evidence of each, by field path."""
    answer = parse_answer(generation)
    printed: dict[str, Evidence] = {}
    if grounded:
        answer, spans = resolve(answer, schema.fields, doc, text, offset=chunk.start)
        printed = {e.field: e for e in spans}
    data = validate(answer, schema)
    confidence = field_confidence(generation.text, generation.token_ends, generation.token_logprobs)
    evidence = ground(data, schema.fields, doc, index, printed, confidence)
    return Part(data, {e.field: e for e in evidence})


def review_reasons(evidence: Sequence[Evidence], min_confidence: float | None) -> tuple[str, ...]:
    """Why a record should be checked by a person first (empty without a threshold)."""
    if min_confidence is None:
        return ()
    reasons = []
    for e in evidence:
        if e.confidence is not None and e.confidence < min_confidence:
            reasons.append(f"{e.field}: confidence {e.confidence:.2f} < {min_confidence:g}")
        if e.grounded is False:
            reasons.append(f"{e.field}: not found in the document")
    return tuple(reasons)


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
