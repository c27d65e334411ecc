"""Stage 2: Documents + schema + Engine -> Records.

Each document becomes a prompt (truncated to the token budget, flagged when it was), the engine
answers a whole batch under the schema's grammar, and each answer is validated by the Pydantic
model. A cut-off or invalid answer becomes a failed Record for that document only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import pydantic

from extractor.config import RunConfig
from extractor.engines.base import Engine
from extractor.errors import ExtractionError, InvalidOutput, OutputTruncated
from extractor.extract.constraint import generation_schema
from extractor.extract.prompt import build_prompt, instructions
from extractor.schema import SchemaInfo
from extractor.types import Document, ErrorInfo, Generation, Provenance, Record, Stage, Status

log = logging.getLogger(__name__)

# Tokens the chat template and the prompt's fixed wording add around the document text.
_TEMPLATE_SLACK_TOKENS = 64


def document_budget(engine: Engine, schema: SchemaInfo, config: RunConfig) -> int:
    """How many tokens of document text fit beside the instructions and the answer."""
    fixed = engine.count_tokens(instructions(schema)) + _TEMPLATE_SLACK_TOKENS
    room = engine.max_context_tokens - config.max_new_tokens - fixed
    return max(0, min(config.max_input_tokens, room))


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
    prompts = []
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
    started = time.perf_counter()
    generations = engine.generate([p.messages for p in prompts], generation_schema(schema), config.max_new_tokens)
    per_doc_s = (time.perf_counter() - started) / len(docs)
    extracted_at = datetime.now(UTC).isoformat(timespec="seconds")
    records = []
    for i, (doc, prompt, generation) in enumerate(zip(docs, prompts, generations, strict=True)):
        provenance = Provenance(
            model_id=engine.model_id,
            schema_name=schema.name,
            schema_fingerprint=schema.fingerprint,
            extracted_at=extracted_at,
            truncated=prompt.truncated,
            prompt_tokens=generation.prompt_tokens,
            completion_tokens=generation.completion_tokens,
            parse_s=parse_s[i] if parse_s else 0.0,
            extract_s=per_doc_s,
        )
        try:
            data = validate(generation, schema)
        except ExtractionError as exc:
            if config.on_error == "raise":
                raise
            records.append(
                Record(
                    source=doc.source,
                    status=Status.FAILED,
                    doc_id=doc.doc_id,
                    kind=doc.kind,
                    error=ErrorInfo(Stage.VALIDATE, type(exc).__name__, str(exc)),
                    provenance=provenance,
                )
            )
            continue
        records.append(
            Record(
                source=doc.source, status=Status.OK, doc_id=doc.doc_id, kind=doc.kind, data=data, provenance=provenance
            )
        )
    return records


def validate(generation: Generation, schema: SchemaInfo) -> dict[str, object]:
    """The answer as validated Python values, or an ExtractionError saying what is wrong."""
    try:
        model = schema.model.model_validate_json(generation.text)
    except pydantic.ValidationError as exc:
        if not generation.finished:
            raise OutputTruncated(
                f"answer cut off at {generation.completion_tokens} tokens (raise max_new_tokens)"
            ) from exc
        raise InvalidOutput(f"answer does not match the schema: {_summary(exc)}") from exc
    return model.model_dump(mode="python")


def _summary(exc: pydantic.ValidationError) -> str:
    errors = exc.errors()[:3]
    text = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in errors)
    more = exc.error_count() - len(errors)
    return text + (f"; and {more} more" if more > 0 else "")
