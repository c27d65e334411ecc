"""Stage 1: a file on disk -> `Document`.

`parse_file` never returns a half-document: it returns a Document with text, or raises an
`InputError` saying what is wrong with the file (missing, unsupported, corrupt, encrypted,
empty, too large, undecodable). Nothing a document names is fetched; nothing in it runs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from extractor.config import ParseLimits
from extractor.errors import EmptyInput, InputError, MissingInput, TooLarge, UnsupportedType
from extractor.parse.builder import TextBuilder
from extractor.types import Document

SUFFIX_KINDS = {
    ".pdf": "pdf",
    ".eml": "email",
    ".msg": "msg",
    ".txt": "text",
    ".md": "text",
    ".html": "html",
    ".htm": "html",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".tif": "image",
    ".tiff": "image",
}
# Magic bytes win over the name: a PDF or image named anything is read as what it is.
# (leading bytes, kind, format)
_MAGIC = [
    (b"%PDF-", "pdf", "pdf"),
    (b"\x89PNG", "image", "png"),
    (b"\xff\xd8\xff", "image", "jpg"),
    (b"II*\x00", "image", "tiff"),
    (b"MM\x00*", "image", "tiff"),
]
SUPPORTED_SUFFIXES = tuple(SUFFIX_KINDS)


def detect_kind(path: Path, head: bytes) -> str:
    for magic, kind_of, _fmt in _MAGIC:
        if head.startswith(magic):
            return kind_of
    kind = SUFFIX_KINDS.get(path.suffix.lower())
    if kind is None:
        raise UnsupportedType(
            f"unsupported file type {path.suffix or '(no suffix)'!r}; supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    return kind


def parse_file(path: str | Path, limits: ParseLimits | None = None) -> Document:
    """Read and parse one file. Raises an InputError subclass for bad input."""
    limits = limits or ParseLimits()
    path = Path(path)
    if not path.is_file():
        raise MissingInput(f"no such file: {path}" if not path.exists() else f"not a regular file: {path}")
    size = path.stat().st_size
    if size == 0:
        raise EmptyInput("file is empty (0 bytes)")
    if size > limits.max_file_bytes:
        raise TooLarge(f"file is {size} bytes, over the limit of {limits.max_file_bytes}")
    data = path.read_bytes()
    try:
        kind = detect_kind(path, data[:8])
        return parse_bytes(data, source=str(path), kind=kind, limits=limits)
    except InputError as exc:
        exc.doc_id = hashlib.sha256(data).hexdigest()
        exc.kind = SUFFIX_KINDS.get(path.suffix.lower())
        raise


def image_format(data: bytes, name: str = "") -> str:
    for magic, _kind, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    return Path(name).suffix.lower().lstrip(".") or "png"


def parse_bytes(data: bytes, source: str, kind: str, limits: ParseLimits | None = None) -> Document:
    limits = limits or ParseLimits()
    out = TextBuilder()
    metadata: dict[str, Any]
    if kind == "pdf":
        from extractor.parse.pdf import parse_pdf

        metadata = parse_pdf(data, out, limits)
    elif kind in ("email", "msg"):
        from extractor.parse.email import parse_eml, parse_msg

        metadata = (parse_eml if kind == "email" else parse_msg)(data, out, limits)
    elif kind == "image":
        from extractor.parse.image import parse_image

        metadata = parse_image(data, out, limits, image_format(data, source))
    elif kind in ("text", "html"):
        from extractor.parse.text import parse_text

        metadata = parse_text(data, out, html=kind == "html")
    else:
        raise UnsupportedType(f"unsupported document kind {kind!r}")
    text = out.text()
    ocr_pages = [p for p in out.pages if p.ocr_confidence is not None]
    if ocr_pages:
        metadata["ocr_pages"] = [f"{p.origin}#{p.number}" if p.origin else p.number for p in ocr_pages]
        metadata["ocr_confidence"] = round(sum(p.ocr_confidence or 0.0 for p in ocr_pages) / len(ocr_pages), 4)
    if not text.strip():
        if ocr_pages:
            hint = f" (OCR found no text on {len(ocr_pages)} scanned page(s))"
        elif kind == "pdf" and not limits.ocr:
            hint = " (a scanned PDF? OCR is switched off)"
        else:
            hint = ""
        raise EmptyInput(f"no extractable text{hint}")
    return Document(
        doc_id=hashlib.sha256(data).hexdigest(),
        source=source,
        kind=kind,
        text=text,
        pages=tuple(out.pages),
        sections=tuple(out.sections),
        metadata=metadata,
    )
