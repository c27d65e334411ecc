"""Emails (.eml with the standard library, Outlook .msg with python-oxmsg) -> text.

The text holds the main headers, the body (plain text preferred, HTML converted otherwise) and
the text of each supported attachment, parsed recursively and marked with its name. Attachments
are read from memory: their names are only labels and never become paths.

Why not unstructured: unstructured 0.27 downloads a spaCy model from GitHub on first use (offline
it raises), sends analytics unless told not to, and its PDF extra pulls a CUDA torchvision. The
standard library's `email` package and python-oxmsg (which unstructured itself uses) do the same
job fully offline.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any

from extractor.config import ParseLimits
from extractor.errors import CorruptInput, EmptyInput, EncodingError, InputError, OcrUnavailable
from extractor.parse.builder import TextBuilder
from extractor.parse.html import html_to_text

HEADERS = ("from", "to", "cc", "date", "subject", "message-id")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f/\\]+")


@dataclass
class _Budget:
    """Attachment limits shared by a whole message tree."""

    limits: ParseLimits
    bytes_left: int

    @classmethod
    def of(cls, limits: ParseLimits) -> _Budget:
        return cls(limits, limits.max_attachment_bytes)


@dataclass(frozen=True)
class _Attachment:
    name: str
    content_type: str
    data: bytes


def parse_eml(data: bytes, out: TextBuilder, limits: ParseLimits) -> dict[str, Any]:
    return _eml(data, out, _Budget.of(limits), depth=0, origin="")


def parse_msg(data: bytes, out: TextBuilder, limits: ParseLimits) -> dict[str, Any]:
    return _msg(data, out, _Budget.of(limits), depth=0, origin="")


def _eml(data: bytes, out: TextBuilder, budget: _Budget, depth: int, origin: str) -> dict[str, Any]:
    msg = BytesParser(policy=policy.default).parsebytes(data)
    if not isinstance(msg, EmailMessage) or not any(msg.get(h) for h in ("from", "to", "subject", "date")):
        raise CorruptInput("not an email message: no From, To, Subject or Date header")
    headers = {h: str(msg.get(h, "")).strip() for h in HEADERS if msg.get(h)}
    body_part = msg.get_body(preferencelist=("plain", "html"))
    body = ""
    if body_part is not None:
        body = _part_text(body_part)
        if body_part.get_content_subtype() == "html":
            body = html_to_text(body)
    attachments = [_eml_attachment(part) for part in msg.iter_attachments()]
    return _emit(headers, body, attachments, out, budget, depth, origin)


def _msg(data: bytes, out: TextBuilder, budget: _Budget, depth: int, origin: str) -> dict[str, Any]:
    from oxmsg import Message

    try:
        msg = Message.load(data)
    except Exception as exc:  # oxmsg/olefile raise assorted errors on damaged compound files
        raise CorruptInput(f"not a readable Outlook .msg file ({type(exc).__name__}: {exc})") from exc
    transport = {k.lower(): v for k, v in (msg.message_headers or {}).items()}
    headers = {
        "from": msg.sender or transport.get("from", ""),
        "to": transport.get("to", "") or ", ".join(r.email_address for r in msg.recipients),
        "cc": transport.get("cc", ""),
        "date": msg.sent_date.isoformat() if msg.sent_date else transport.get("date", ""),
        "subject": msg.subject or "",
        "message-id": transport.get("message-id", ""),
    }
    headers = {k: v.strip() for k, v in headers.items() if v and v.strip()}
    body = msg.body or ""
    if not body.strip() and msg.html_body:
        body = html_to_text(msg.html_body)
    attachments = [
        _Attachment(a.file_name or "unnamed", a.mime_type or "application/octet-stream", a.file_bytes or b"")
        for a in msg.attachments
    ]
    return _emit(headers, body, attachments, out, budget, depth, origin)


def _emit(
    headers: dict[str, str],
    body: str,
    attachments: list[_Attachment],
    out: TextBuilder,
    budget: _Budget,
    depth: int,
    origin: str,
) -> dict[str, Any]:
    """Write headers, body and attachments to `out`; return the message's metadata."""
    if not body.strip() and not attachments and not headers.get("subject"):
        raise EmptyInput("email has no subject, no body and no attachments")
    with out.section(f"{origin}headers" if origin else "headers"):
        out.add("".join(f"{name.title()}: {value}\n" for name, value in headers.items() if name != "message-id"))
    with out.section(f"{origin}body" if origin else "body"):
        out.add(body.replace("\r\n", "\n").strip() + "\n")
    metadata: dict[str, Any] = dict(headers)
    metadata["from_addresses"] = [a for _, a in getaddresses([headers.get("from", "")]) if a]
    parsed, skipped = [], []
    for attachment in attachments:
        reason = _attach(attachment, out, budget, depth, origin, skipped)
        (skipped if reason else parsed).append(f"{attachment.name}: {reason}" if reason else attachment.name)
    metadata["attachments"] = parsed
    if skipped:
        metadata["skipped_attachments"] = skipped
    return metadata


def _attach(att: _Attachment, out: TextBuilder, budget: _Budget, depth: int, origin: str, skipped: list[str]) -> str:
    """Parse one attachment into `out`. Returns '' on success, else why it was left out; what a
    nested message left out is added to `skipped`, so no limit hit deep down goes unrecorded."""
    kind = _attachment_kind(att)
    if kind is None:
        return f"unsupported type {att.content_type}"
    if depth + 1 > budget.limits.max_attachment_depth:
        return f"nested deeper than {budget.limits.max_attachment_depth} levels"
    if len(att.data) > budget.bytes_left:
        return f"over the attachment size budget ({budget.limits.max_attachment_bytes} bytes per email)"
    budget.bytes_left -= len(att.data)
    label = f"{origin}attachment:{att.name}"
    scratch = TextBuilder()
    try:
        if kind == "pdf":
            from extractor.parse.pdf import parse_pdf

            parse_pdf(att.data, scratch, budget.limits, origin=label)
        elif kind == "image":
            from extractor.parse import image_format
            from extractor.parse.image import parse_image

            parse_image(att.data, scratch, budget.limits, image_format(att.data, att.name), origin=label)
        elif kind in ("eml", "msg"):
            nested = (_eml if kind == "eml" else _msg)(att.data, scratch, budget, depth + 1, origin=label + "/")
            skipped.extend(f"{att.name}/{note}" for note in nested.get("skipped_attachments", []))
        else:
            text = _decode(att.data, None, f"attachment {att.name}")
            scratch.add(html_to_text(text) if kind == "html" else text)
    except OcrUnavailable:
        raise  # a scan nobody can read is the document's error, not a footnote
    except InputError as exc:
        return f"{type(exc).__name__}: {exc}"
    if not scratch.text().strip():
        return "no text"
    with out.section(label):
        out.add(f"--- Attachment: {att.name} ---\n")
        offset = out.length
        out.add(scratch.text())
        out.pages.extend(_shift(p, offset) for p in scratch.pages)
        out.sections.extend(_shift(s, offset) for s in scratch.sections)
    return ""


def _shift(span: Any, offset: int) -> Any:
    from dataclasses import replace

    return replace(span, start=span.start + offset, end=span.end + offset)


def _attachment_kind(att: _Attachment) -> str | None:
    ctype, name = att.content_type.lower(), att.name.lower()
    if ctype in ("image/png", "image/jpeg", "image/tiff") or name.endswith((".png", ".jpg", ".jpeg", ".tif", ".tiff")):
        return "image"
    if ctype == "application/pdf" or name.endswith(".pdf"):
        return "pdf"
    if ctype == "message/rfc822" or name.endswith(".eml"):
        return "eml"
    if ctype == "application/vnd.ms-outlook" or name.endswith(".msg"):
        return "msg"
    if ctype == "text/html" or name.endswith((".html", ".htm")):
        return "html"
    if ctype in ("text/plain", "text/markdown", "text/csv") or name.endswith((".txt", ".md", ".csv")):
        return "text"
    return None


def _eml_attachment(part: EmailMessage) -> _Attachment:
    name = _UNPRINTABLE.sub("_", part.get_filename() or "").strip("_ .") or "unnamed"
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload(0) if part.is_multipart() else part.get_content()
        data = inner.as_bytes(policy=policy.default) if isinstance(inner, EmailMessage) else b""
        if str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64":
            # RFC 2046 forbids it, mailers do it anyway: the "message" is base64 text to decode first.
            with contextlib.suppress(binascii.Error):
                data = base64.b64decode(data, validate=False)
    else:
        data = part.get_payload(decode=True) or b""
    return _Attachment(name, part.get_content_type(), data)


def _part_text(part: EmailMessage) -> str:
    data = part.get_payload(decode=True) or b""
    return _decode(data, part.get_content_charset(), "email body")


def _decode(data: bytes, charset: str | None, what: str) -> str:
    """Decode strictly: undecodable bytes are an input error, not silently replaced text."""
    charset = charset or "utf-8"
    try:
        return data.decode(charset)
    except LookupError as exc:
        raise EncodingError(f"{what} declares unknown charset {charset!r}") from exc
    except UnicodeDecodeError as exc:
        raise EncodingError(
            f"{what} is not valid {charset} (byte {exc.start}: {data[exc.start : exc.start + 4]!r})"
        ) from exc
