"""Step 4 of extraction: a document's answered parts become its one Record (merged within the
schema's bounds, with provenance, evidence and the reasons a person should check it)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from extractor.config import RunConfig
from extractor.errors import ExtractionError, GenerationFailed
from extractor.extract.answer import validate
from extractor.extract.merge import merge_parts
from extractor.schema import SchemaInfo
from extractor.types import ErrorInfo, Evidence, Provenance, Record, Stage, Status

if TYPE_CHECKING:
    from extractor.extract.batch import DocumentPlan

log = logging.getLogger("extractor.extract")

FALLBACK_PREFIX = "json (grounded fallback: "


@dataclass(frozen=True)
class RecordContext:
    """What every Record of one batch shares."""

    schema: SchemaInfo
    model_id: str
    config: RunConfig
    extracted_at: str
    extract_s: float  # the batch's generation time, shared out per document


def to_record(plan: DocumentPlan, context: RecordContext, parse_s: float) -> Record:
    """The Record of one planned document: its parts merged, or the first error when all failed
    (stage `extract` when the engine failed, `validate` when the answer was unusable)."""
    doc, schema, config = plan.doc, context.schema, context.config
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
        provenance=_provenance(plan, context, parse_s),
        evidence=tuple(evidence),
        review=(*notes, *review_reasons(evidence, config.min_confidence)) if error is None else (),
    )


def _provenance(plan: DocumentPlan, context: RecordContext, parse_s: float) -> Provenance:
    fallbacks = sorted({g.fallback_reason for g in plan.generations if g.fallback_reason})
    decoding = context.config.decoding
    if fallbacks:
        decoding = FALLBACK_PREFIX + fallbacks[0] + ")"
        log.warning(
            "%s: grounded grammar could not be used, decoded under the JSON Schema: %s", plan.doc.source, fallbacks[0]
        )
    return Provenance(
        model_id=context.model_id,
        schema_name=context.schema.name,
        schema_fingerprint=context.schema.fingerprint,
        extracted_at=context.extracted_at,
        truncated=plan.truncated,
        decoding=decoding,
        prompt_tokens=sum(g.prompt_tokens for g in plan.generations),
        completion_tokens=sum(g.completion_tokens for g in plan.generations),
        parse_s=parse_s,
        extract_s=context.extract_s,
        ocr_pages=sum(p.ocr_confidence is not None for p in plan.doc.pages),
        chunks=len(plan.chunks),
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
