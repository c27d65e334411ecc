"""Typed data that travels between the pipeline stages.

parse:   file bytes           -> Document
extract: Document + schema    -> Record
sink:    Records              -> Parquet tables / DataFrames

Plain frozen dataclasses: no parser handles, no model objects, nothing that cannot be pickled.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Status(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"


class Stage(enum.StrEnum):
    """Where in the pipeline a document failed."""

    DISCOVER = "discover"
    PARSE = "parse"
    EXTRACT = "extract"
    VALIDATE = "validate"


@dataclass(frozen=True)
class Page:
    """One page of a paginated source, as a character span of `Document.text`.

    `origin` is empty for the document itself and names the attachment for pages that came
    from an attached file (e.g. ``attachment:order.pdf``).
    """

    number: int  # 1-based, within its origin
    start: int
    end: int
    origin: str = ""
    ocr_confidence: float | None = None  # set when the page's text came from OCR: mean word confidence 0..1


@dataclass(frozen=True)
class Section:
    """A named character span of `Document.text` (email body, an attachment, a PDF table)."""

    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """What the parse stage hands to extraction. `doc_id` is the SHA-256 of the file bytes."""

    doc_id: str
    source: str
    kind: str
    text: str
    pages: tuple[Page, ...] = ()
    sections: tuple[Section, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def page_at(self, offset: int) -> Page | None:
        """The page holding character `offset`, or None for unpaginated text."""
        for page in self.pages:
            if page.start <= offset < page.end:
                return page
        return None


@dataclass(frozen=True)
class ErrorInfo:
    stage: Stage
    type: str
    message: str


@dataclass(frozen=True)
class Provenance:
    model_id: str
    schema_name: str
    schema_fingerprint: str
    extracted_at: str  # ISO-8601 UTC
    truncated: bool = False
    decoding: str = "json"  # "json" (JSON-Schema constraint) or "grounded" (spans of the document)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    parse_s: float = 0.0
    extract_s: float = 0.0
    ocr_pages: int = 0  # pages of the document whose text came from OCR
    chunks: int = 1  # parts a long document was read in


@dataclass(frozen=True)
class Evidence:
    """One extracted value: where it stands in the document text, and how sure the model was."""

    field: str  # "total", "line_items[2].amount"
    text: str  # the span exactly as printed ("" when not found)
    start: int  # character offsets in Document.text; -1 if not found
    end: int
    page: int | None = None
    origin: str = ""  # the attachment it came from, for emails
    note: str = ""  # why a printed value could not be typed (then the value is null), or that its place is ambiguous
    match: str = ""  # "exact" | "normalised" | "fuzzy" | "none"; "" for abstractive fields (not searched)
    grounded: bool | None = None  # found in the text; None for abstractive fields
    confidence: float | None = None  # geometric mean token probability of the value, 0..1


@dataclass(frozen=True)
class Record:
    """One result per (document, schema): validated data, or the error that stopped it."""

    source: str
    status: Status
    doc_id: str | None = None
    kind: str | None = None
    data: Mapping[str, Any] | None = None
    error: ErrorInfo | None = None
    provenance: Provenance | None = None
    evidence: tuple[Evidence, ...] = ()
    review: tuple[str, ...] = ()  # why a person should check it (fields under --min-confidence, ungrounded)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def ocr(self) -> bool:
        return bool(self.provenance and self.provenance.ocr_pages)


@dataclass(frozen=True)
class Generation:
    """What an engine returns for one prompt."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finished: bool  # False when the token budget ran out before the answer was complete
    token_ids: tuple[int, ...] = ()  # the answer's tokens, when the engine reports them
    token_logprobs: tuple[float, ...] = ()  # per token, log-probability under the constraint (0.0: forced)
    forward_passes: int = 0  # model calls spent on this answer (jump-forward makes it < completion_tokens)
    token_ends: tuple[int, ...] = ()  # per token, where it ends in `text` (characters)
    fallback_reason: str = ""  # why the constraint's fallback was decoded instead of it ("" if it was not)
