"""Stage 2: Documents + schema + Engine -> Records.

`extract_batch` runs four named steps:
1. **plan**: each document becomes one part, or for a document longer than the token budget one
   part per stretch of text (chunks.py), each with a prompt and a constraint: the schema's JSON
   Schema, or with grounded decoding a grammar in which extractive fields can only be spans of that
   part (grammar.py), with the JSON Schema as its fallback should the grammar not compile;
2. **generate**: all parts go to the engine together; a failure the engine confines to one prompt
   (`GenerationFailed`) is isolated by asking again prompt by prompt, so it fails that part alone;
3. **read**: each answer is typed and validated by the Pydantic model, with evidence in the
   document text and a confidence from the answer's token probabilities (answer.py);
4. **record**: a document's parts are merged (merge.py, within the schema's bounds) into one Record;
   a document all of whose parts failed becomes a failed Record (stage `extract` when the engine
   failed, `validate` when the answer was unusable). No document can stop the batch.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from extractor.config import RunConfig
from extractor.engines.base import Constraint, Engine
from extractor.errors import ConfigError, ExtractionError, GenerationFailed
from extractor.extract.answer import parse_answer, read_part, validate
from extractor.extract.chunks import Chunk, covered, split
from extractor.extract.constraint import generation_schema
from extractor.extract.evidence import TextIndex
from extractor.extract.grammar import grounded_grammar
from extractor.extract.merge import Part, merge_parts
from extractor.extract.prompt import build_prompt, instructions
from extractor.parse.pool import strict_from_env
from extractor.schema import SchemaInfo
from extractor.types import Document, ErrorInfo, Evidence, Generation, Provenance, Record, Stage, Status

__all__ = ["document_budget", "extract_batch", "is_fallback", "parse_answer", "review_reasons", "validate"]

log = logging.getLogger(__name__)

MIN_DOCUMENT_TOKENS = 64
# Tokens the chat template and the prompt's fixed wording add around the document text.
_TEMPLATE_SLACK_TOKENS = 64
FALLBACK_PREFIX = "json (grounded fallback: "


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


@dataclass
class _Plan:
    """One document's parts, and what became of each."""

    doc: Document
    chunks: list[Chunk]
    truncated: bool
    parts: list[Part] = field(default_factory=list)
    errors: list[ExtractionError] = field(default_factory=list)
    generations: list[Generation] = field(default_factory=list)

    @functools.cached_property
    def index(self) -> TextIndex:
        """The document's text prepared for evidence search, shared by its parts."""
        return TextIndex(self.doc.text)


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
    plans = [_plan(doc, engine, budget, config) for doc in docs]
    jobs = [(plan, chunk) for plan in plans for chunk in plan.chunks]
    json_constraint = Constraint(json_schema=generation_schema(schema))
    prompts, constraints, unbuilt = [], [], {}
    for i, (plan, chunk) in enumerate(jobs):
        text = plan.doc.text[chunk.start : chunk.end]
        prompts.append(build_prompt(schema, text, truncated=plan.truncated).messages)
        if config.decoding == "grounded":
            try:
                constraints.append(Constraint(lark=grounded_grammar(schema, text), fallback=json_constraint))
                continue
            except Exception as exc:  # a bug of ours, on one document's text: that document falls back
                if config.on_error == "raise" or strict_from_env():
                    raise
                log.error("grounded grammar not built for %s", plan.doc.source, exc_info=True)
                unbuilt[i] = f"grammar not built: {type(exc).__name__}: {exc}"[:300]
        constraints.append(json_constraint)
    started = time.perf_counter()
    outcomes = _generate(engine, prompts, constraints, config)
    for i, reason in unbuilt.items():  # the row says it was decoded under the JSON Schema, and why
        if isinstance(outcomes[i], Generation):
            outcomes[i] = dataclasses.replace(outcomes[i], fallback_reason=reason)
    per_doc_s = (time.perf_counter() - started) / len(docs)
    for (plan, chunk), outcome in zip(jobs, outcomes, strict=True):
        try:
            if isinstance(outcome, GenerationFailed):
                raise outcome
            plan.generations.append(outcome)
            copied_spans = config.decoding == "grounded" and not outcome.fallback_reason
            plan.parts.append(read_part(outcome, plan.doc, plan.index, chunk, schema, copied_spans))
        except ExtractionError as exc:
            if config.on_error == "raise":
                raise
            plan.errors.append(exc)
    extracted_at = datetime.now(UTC).isoformat(timespec="seconds")
    return [
        _record(plan, schema, engine, config, extracted_at, per_doc_s, parse_s[i] if parse_s else 0.0)
        for i, plan in enumerate(plans)
    ]


def _plan(doc: Document, engine: Engine, budget: int, config: RunConfig) -> _Plan:
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
    return _Plan(doc, chunks, cut)


def _generate(
    engine: Engine, prompts: list[Any], constraints: list[Constraint], config: RunConfig
) -> list[Generation | GenerationFailed]:
    """The engine's answers, in order. When the engine fails on one prompt of a batch, the batch is
    asked again prompt by prompt, so that only the prompt at fault fails."""
    try:
        return list(engine.generate(prompts, constraints, config.max_new_tokens))
    except GenerationFailed as exc:
        if config.on_error == "raise":
            raise
        if len(prompts) == 1:
            return [exc]
        log.warning("the engine failed on one of %d prompts (%s); asking again one by one", len(prompts), exc)
    outcomes: list[Generation | GenerationFailed] = []
    for prompt, constraint in zip(prompts, constraints, strict=True):
        try:
            outcomes.extend(engine.generate([prompt], [constraint], config.max_new_tokens))
        except GenerationFailed as exc:
            outcomes.append(exc)
    return outcomes


def _record(
    plan: _Plan,
    schema: SchemaInfo,
    engine: Engine,
    config: RunConfig,
    extracted_at: str,
    extract_s: float,
    parse_s: float,
) -> Record:
    doc = plan.doc
    fallbacks = sorted({g.fallback_reason for g in plan.generations if g.fallback_reason})
    decoding = config.decoding
    if fallbacks:
        decoding = FALLBACK_PREFIX + fallbacks[0] + ")"
        log.warning(
            "%s: grounded grammar could not be used, decoded under the JSON Schema: %s", doc.source, fallbacks[0]
        )
    provenance = Provenance(
        model_id=engine.model_id,
        schema_name=schema.name,
        schema_fingerprint=schema.fingerprint,
        extracted_at=extracted_at,
        truncated=plan.truncated,
        decoding=decoding,
        prompt_tokens=sum(g.prompt_tokens for g in plan.generations),
        completion_tokens=sum(g.completion_tokens for g in plan.generations),
        parse_s=parse_s,
        extract_s=extract_s,
        ocr_pages=sum(p.ocr_confidence is not None for p in doc.pages),
        chunks=len(plan.chunks),
    )
    data: dict[str, Any] | None = None
    evidence: list[Evidence] = []
    notes: list[str] = []
    error: ErrorInfo | None = None
    try:
        if not plan.parts:
            raise plan.errors[0]
        if plan.errors:
            log.warning("%s: %d of %d parts failed: %s", doc.source, len(plan.errors), len(plan.chunks), plan.errors[0])
        if len(plan.parts) == 1:
            data, evidence = plan.parts[0].data, list(plan.parts[0].evidence.values())
        else:
            merged = merge_parts(plan.parts, schema.fields)
            data, evidence, notes = validate(merged.data, schema), merged.evidence, merged.notes
    except ExtractionError as exc:
        if config.on_error == "raise":
            raise
        stage = Stage.EXTRACT if isinstance(exc, GenerationFailed) else Stage.VALIDATE
        error, data, evidence, notes = ErrorInfo(stage, type(exc).__name__, str(exc)), None, [], []
    return Record(
        source=doc.source,
        status=Status.FAILED if error else Status.OK,
        doc_id=doc.doc_id,
        kind=doc.kind,
        data=data,
        error=error,
        provenance=provenance,
        evidence=tuple(evidence),
        review=(*notes, *review_reasons(evidence, config.min_confidence)) if error is None else (),
    )


def is_fallback(decoding: str | None) -> bool:
    """Whether a row's `decoding` says its grounded grammar fell back to the JSON Schema."""
    return bool(decoding and decoding.startswith(FALLBACK_PREFIX))


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
