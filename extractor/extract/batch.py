"""`extract_batch`: Documents + schema + Engine -> one Record each, in four named steps.

1. `plan_document`: a document becomes one part, or for a document longer than the token budget
   one part per stretch of text (chunks.py);
2. `requests_for`: each part gets its prompt and its constraint: the schema's JSON Schema, or with
   grounded decoding a grammar in which extractive fields can only be spans of that part
   (grammar.py), with the JSON Schema as its fallback should the grammar not compile;
3. `generate`: all parts go to the engine together; a failure the engine confines to one prompt
   (`GenerationFailed`) is isolated by asking again prompt by prompt, so it fails that part alone;
   `read_answers` then types and validates each answer, with evidence in the document text and a
   confidence from the answer's token probabilities (answer.py);
4. `to_record` (record.py): a document's parts are merged into one Record.
No document can stop the batch.
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
from extractor.errors import ExtractionError, GenerationFailed
from extractor.extract.answer import read_part
from extractor.extract.budget import document_budget
from extractor.extract.chunks import Chunk, covered, split
from extractor.extract.constraint import generation_schema
from extractor.extract.evidence import TextIndex
from extractor.extract.grammar import grounded_grammar
from extractor.extract.merge import Part
from extractor.extract.prompt import build_prompt
from extractor.extract.record import RecordContext, to_record
from extractor.parse.pool import strict_from_env
from extractor.schema import SchemaInfo
from extractor.types import Document, Generation, Record

log = logging.getLogger("extractor.extract")


@dataclass
class DocumentPlan:
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


@dataclass(frozen=True)
class Request:
    """One part of one document, as the engine is asked it."""

    plan: DocumentPlan
    chunk: Chunk
    prompt: Any  # chat messages
    constraint: Constraint
    unbuilt: str | None = None  # why the grounded grammar was not built (decoded under the JSON Schema)


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
    plans = [plan_document(doc, engine, budget, config) for doc in docs]
    requests = requests_for(plans, schema, config)
    started = time.perf_counter()
    outcomes = generate(engine, requests, config)
    context = RecordContext(
        schema=schema,
        model_id=engine.model_id,
        config=config,
        extracted_at=datetime.now(UTC).isoformat(timespec="seconds"),
        extract_s=(time.perf_counter() - started) / len(docs),
    )
    read_answers(requests, outcomes, schema, config)
    return [to_record(plan, context, parse_s[i] if parse_s else 0.0) for i, plan in enumerate(plans)]


def plan_document(doc: Document, engine: Engine, budget: int, config: RunConfig) -> DocumentPlan:
    """The parts `doc` is read in: one, or overlapping stretches of at most `budget` tokens."""
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
    return DocumentPlan(doc, chunks, cut)


def requests_for(plans: Sequence[DocumentPlan], schema: SchemaInfo, config: RunConfig) -> list[Request]:
    """A prompt and a constraint for every part of every plan. A grounded grammar that cannot be
    built (a bug of ours, on one document's text) leaves that part under the JSON Schema."""
    json_constraint = Constraint(json_schema=generation_schema(schema))
    requests = []
    for plan in plans:
        for chunk in plan.chunks:
            text = plan.doc.text[chunk.start : chunk.end]
            prompt = build_prompt(schema, text, truncated=plan.truncated).messages
            constraint, unbuilt = json_constraint, None
            if config.decoding == "grounded":
                try:
                    constraint = Constraint(lark=grounded_grammar(schema, text), fallback=json_constraint)
                except Exception as exc:
                    if config.on_error == "raise" or strict_from_env():
                        raise
                    log.error("grounded grammar not built for %s", plan.doc.source, exc_info=True)
                    unbuilt = f"grammar not built: {type(exc).__name__}: {exc}"[:300]
            requests.append(Request(plan, chunk, prompt, constraint, unbuilt))
    return requests


def generate(engine: Engine, requests: Sequence[Request], config: RunConfig) -> list[Generation | GenerationFailed]:
    """The engine's answers, in order. When the engine fails on one prompt of a batch, the batch is
    asked again prompt by prompt, so that only the prompt at fault fails."""
    prompts = [r.prompt for r in requests]
    constraints = [r.constraint for r in requests]
    try:
        outcomes: list[Generation | GenerationFailed] = list(
            engine.generate(prompts, constraints, config.max_new_tokens)
        )
    except GenerationFailed as exc:
        if config.on_error == "raise":
            raise
        if len(prompts) == 1:
            outcomes = [exc]
        else:
            log.warning("the engine failed on one of %d prompts (%s); asking again one by one", len(prompts), exc)
            outcomes = [_one(engine, r, config) for r in requests]
    return [
        dataclasses.replace(o, fallback_reason=r.unbuilt) if r.unbuilt and isinstance(o, Generation) else o
        for r, o in zip(requests, outcomes, strict=True)
    ]


def _one(engine: Engine, request: Request, config: RunConfig) -> Generation | GenerationFailed:
    try:
        (outcome,) = engine.generate([request.prompt], [request.constraint], config.max_new_tokens)
        return outcome
    except GenerationFailed as exc:
        return exc


def read_answers(
    requests: Sequence[Request],
    outcomes: Sequence[Generation | GenerationFailed],
    schema: SchemaInfo,
    config: RunConfig,
) -> None:
    """Type, validate and locate each answer in its document; each lands in its plan's parts, or
    (unusable, or the engine failed) in its errors."""
    for request, outcome in zip(requests, outcomes, strict=True):
        plan = request.plan
        try:
            if isinstance(outcome, GenerationFailed):
                raise outcome
            plan.generations.append(outcome)
            copied_spans = config.decoding == "grounded" and not outcome.fallback_reason
            plan.parts.append(read_part(outcome, plan.doc, plan.index, request.chunk, schema, copied_spans))
        except ExtractionError as exc:
            if config.on_error == "raise":
                raise
            plan.errors.append(exc)
