"""Emails (.eml with the standard library, Outlook .msg via `outlook`) -> text and metadata.

The text holds the main headers, the body (plain text preferred, HTML converted otherwise) and
the text of each supported attachment, parsed recursively and marked with its name. Attachments
are read from memory: their names are only labels and never become paths.

What is refused: only a file with no e-mail or MIME header at all (`CorruptInput`) and a message
with no subject, body or attachment (`EmptyInput`). Everything else is read as far as it goes:
- a MIME entity without envelope headers (Content-Type only) is read for its parts' text;
- charsets never fail a message: headers and bodies go through `charsets.decode` and
  `envelope` (supersets, detection, replacement), and what was guessed is noted;
- an attachment that cannot be read (tiny or broken image, no OCR, unsupported type, over a
  limit) is listed with its reason; the message's own text is still a Document.

Metadata, besides the envelope keys documented in `envelope`:
  attachments          every attachment and inline part with a file name, parsed or not, attached
                       messages included; a nested message's own are listed as "outer/inner"
  unnamed_parts        how many non-body parts had no file name (they are parsed all the same)
  skipped_attachments  "name: reason" for each part whose text is not in the document
  charset_notes        each charset that was replaced, widened or guessed, and where

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
from dataclasses import dataclass, field, replace
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any

from extractor.config import ParseLimits
from extractor.errors import CorruptInput, EmptyInput, InputError, OcrUnavailable
from extractor.parse import charsets
from extractor.parse.builder import TextBuilder
from extractor.parse.envelope import ENCODED_WORD, decode_words, envelope, header_text
from extractor.parse.html import html_to_text
from extractor.parse.outlook import OutlookMessage

# A file with none of these headers is not an e-mail (or MIME entity) at all.
_MAIL_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "date", "message-id", "sender", "reply-to", "received", "return-path"}
    | {"in-reply-to", "references", "delivered-to", "mime-version", "content-type", "content-transfer-encoding"}
)
_TEXT_HEADERS = (("From", "from"), ("To", "to"), ("Cc", "cc"), ("Date", "date"), ("Subject", "subject"))
_IMAGE_TYPES = frozenset(  # with the non-standard names mailers use
    {"image/png", "image/x-png", "image/jpeg", "image/jpg", "image/pjpeg", "image/tiff", "image/gif", "image/bmp"}
)
_BODY_TYPES = ("text/plain", "text/html", "text/enriched")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f/\\]+")
# RFC 5322 4.5 obsolete syntax, still in old archives: white space before a header's colon.
_SPACED_HEADER_NAME = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]+:", re.MULTILINE)


@dataclass
class _Tree:
    """State shared by a whole message tree: the attachment budget and the charset notes."""

    limits: ParseLimits
    bytes_left: int
    charset_notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, limits: ParseLimits) -> _Tree:
        return cls(limits, limits.max_attachment_bytes)


@dataclass(frozen=True)
class _Attachment:
    name: str  # the sender's file name, made safe as a label; "" for an unnamed part
    label: str  # the name, or "unnamed part N"
    content_type: str
    data: bytes
    charset: str | None = None
    message: OutlookMessage | None = None  # an Outlook message embedded in a .msg
    size: int = 0


def parse_eml(data: bytes, out: TextBuilder, limits: ParseLimits) -> dict[str, Any]:
    tree = _Tree.of(limits)
    return _with_notes(_eml(data, out, tree, depth=0, origin=""), tree)


def parse_msg(data: bytes, out: TextBuilder, limits: ParseLimits) -> dict[str, Any]:
    tree = _Tree.of(limits)
    return _with_notes(_msg(data, out, tree, depth=0, origin=""), tree)


def _with_notes(metadata: dict[str, Any], tree: _Tree) -> dict[str, Any]:
    if tree.charset_notes:
        metadata["charset_notes"] = list(dict.fromkeys(tree.charset_notes))
    return metadata


def _eml(data: bytes, out: TextBuilder, tree: _Tree, depth: int, origin: str) -> dict[str, Any]:
    data = _utf16_to_utf8(data, tree.charset_notes, origin)
    msg = BytesParser(policy=policy.compat32).parsebytes(_unspace_header_names(data))
    if not any(name.strip().lower() in _MAIL_HEADERS for name in msg):
        raise CorruptInput("not an email message: no e-mail or MIME header at all")
    hint = _charset_hint(msg)
    metadata = envelope(msg.raw_items(), tree.charset_notes, origin, hint)
    walk = _Walk(tree.charset_notes, origin, hint)
    walk.visit(msg, wants_body=True)
    return _emit(metadata, "\n\n".join(walk.body), walk.attachments, walk.unnamed, out, tree, depth, origin)


def _msg(data: bytes, out: TextBuilder, tree: _Tree, depth: int, origin: str) -> dict[str, Any]:
    from extractor.parse.outlook import read_msg

    levels_left = tree.limits.max_attachment_depth - depth
    return _outlook(read_msg(data, tree.charset_notes, levels_left, origin), out, tree, depth, origin)


def _outlook(msg: OutlookMessage, out: TextBuilder, tree: _Tree, depth: int, origin: str) -> dict[str, Any]:
    metadata = envelope(msg.headers, tree.charset_notes, origin)
    body = msg.body if msg.body.strip() else html_to_text(msg.html) if msg.html else ""
    attachments, unnamed = [], 0
    for att in msg.attachments:
        unnamed += not att.name
        label = _label(att.name, tree.charset_notes, origin) or f"unnamed part {unnamed}"
        name = label if att.name else ""
        attachments.append(_Attachment(name, label, att.mime_type, att.data, None, att.message, att.size))
    return _emit(metadata, body, attachments, unnamed, out, tree, depth, origin)


@dataclass
class _Walk:
    """Walks a MIME tree: collects the body text and every other part as an attachment."""

    notes: list[str]
    origin: str
    hint: str | None  # the message's charset, for raw 8-bit bytes in a part's headers
    body: list[str] = field(default_factory=list)
    attachments: list[_Attachment] = field(default_factory=list)
    unnamed: int = 0

    def visit(self, part: Message, wants_body: bool) -> None:
        """`wants_body` is False inside the alternatives not chosen: their text repeats the body,
        but a named part in them (an inline image of the HTML version) is still an attachment."""
        mime = self._mime_headers(part)
        ctype = mime.get_content_type()
        if part.is_multipart() and ctype.startswith("multipart/"):
            children = [c for c in part.get_payload() if isinstance(c, Message)]
            best = _best_alternative(children) if ctype == "multipart/alternative" else None
            for child in children:
                self.visit(child, wants_body and (best is None or child is best))
            return
        name = _label(self._filename(mime), self.notes, self.origin)
        if part.is_multipart():  # message/*: an attached message, or a delivery report's blocks
            self._add(name, *_message_part(part, ctype), None)
            return
        if not name and mime.get_content_disposition() != "attachment" and _is_body(ctype):
            if wants_body:
                self.body.append(self._text(part, mime, ctype))
            return
        self._add(name, ctype, _payload(part), mime.get_content_charset())

    def _add(self, name: str, ctype: str, data: bytes, charset: str | None) -> None:
        self.unnamed += not name
        label = name or f"unnamed part {self.unnamed}"
        self.attachments.append(_Attachment(name, label, ctype, data, charset, None, len(data)))

    def _text(self, part: Message, mime: Message, ctype: str) -> str:
        data = _payload(part)
        text = charsets.decode(data, mime.get_content_charset(), self.notes, f"{self.origin}body")
        return html_to_text(text) if ctype == "text/html" else text

    def _mime_headers(self, part: Message) -> Message:
        """The part's Content-Type and -Disposition with raw 8-bit bytes decoded, in a fresh Message:
        the stdlib's parameter parsing (quoting, RFC 2231) then reads a non-ASCII file name as text,
        where on the raw header it would return U+FFFD for each byte."""
        mime = Message()
        mime.set_default_type(part.get_default_type())  # message/rfc822 inside multipart/digest
        for name, value in part.raw_items():
            if name.lower() in ("content-type", "content-disposition"):
                mime[name] = header_text(value, self.notes, f"{self.origin}{name} header", self.hint)
        return mime

    def _filename(self, mime: Message) -> str | None:
        for param, header in (("filename", "content-disposition"), ("name", "content-type")):
            value = mime.get_param(param, None, header)
            if isinstance(value, tuple):  # RFC 2231: (charset, language, text with one char per byte)
                charset, _language, text = value
                what = f"{self.origin}attachment name"
                with contextlib.suppress(UnicodeEncodeError):  # chars beyond a byte: already text
                    text = charsets.decode(text.encode("latin-1"), charset or None, self.notes, what)
                return text
            if value:
                return str(value)
        return None


def _charset_hint(msg: Message) -> str | None:
    """The charset raw 8-bit headers are most likely in: the first the message declares, in a
    Content-Type or else in an encoded word (mail clients fall back to it too)."""
    for part in msg.walk():
        if part.get_content_charset():
            return part.get_content_charset()
    words = (ENCODED_WORD.search(value) for _name, value in msg.raw_items())
    return next((word[1] for word in words if word), None)


def _payload(part: Message) -> bytes:
    """The part's content, transfer encoding undone (bad base64 or quoted-printable: as far as it goes)."""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _is_body(ctype: str) -> bool:
    # a multipart without its boundary is left by the parser as one text: read it as such
    return ctype in _BODY_TYPES or ctype.startswith("multipart/")


def _best_alternative(children: list[Message]) -> Message | None:
    """The alternative read as the body: one with plain text in it, else HTML, else the last."""
    for wanted in ("text/plain", "text/html"):
        for child in children:
            for leaf in child.walk():
                if leaf.get_content_type() == wanted and _payload(leaf).strip():
                    return child
    return children[-1] if children else None


def _message_part(part: Message, ctype: str) -> tuple[str, bytes]:
    """(content type, bytes) of a message/* part: an attached message is handed on as .eml bytes;
    other message/* types (a delivery report's status blocks) as their text."""
    inner = [p for p in part.get_payload() if isinstance(p, Message)]
    if ctype not in ("message/rfc822", "message/global"):
        return "text/plain", b"\n".join(p.as_bytes() for p in inner)
    data = inner[0].as_bytes() if inner else b""
    if str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64":
        # RFC 2046 forbids it, mailers do it anyway: the "message" is base64 text to decode first.
        with contextlib.suppress(binascii.Error):
            data = base64.b64decode(data, validate=False)
    return "message/rfc822", data


def _label(raw_name: str | None, notes: list[str], origin: str) -> str:
    """A file name made safe as a label: encoded words decoded, no path separators or controls."""
    if not raw_name:
        return ""
    name = decode_words(raw_name, notes, f"{origin}attachment name")
    return _UNPRINTABLE.sub("_", name).strip("_ .")[:200]


def _utf16_to_utf8(data: bytes, notes: list[str], origin: str) -> bytes:
    """A whole .eml saved as UTF-16 (some Windows tools do) or with a UTF-8 byte-order mark: as plain
    bytes, so that the parser finds its headers."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:]
    head = data[:64]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        codec = "utf-16"
    elif len(head) == 64 and head[1::2].count(0) > 28:  # ASCII headers in UTF-16: every other byte is 0
        codec = "utf-16-le"
    elif len(head) == 64 and head[0::2].count(0) > 28:
        codec = "utf-16-be"
    else:
        return data
    notes.append(f"{origin}file: the whole message is {codec} text; transcoded to UTF-8")
    return data.decode(codec, errors="replace").encode("utf-8")


def _unspace_header_names(data: bytes) -> bytes:
    """`Subject : x` -> `Subject: x` in the header block (obsolete syntax the stdlib does not read)."""
    end = min((i for i in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if i >= 0), default=len(data))
    return _SPACED_HEADER_NAME.sub(rb"\1:", data[:end]) + data[end:]


def _emit(
    metadata: dict[str, Any],
    body: str,
    attachments: list[_Attachment],
    unnamed: int,
    out: TextBuilder,
    tree: _Tree,
    depth: int,
    origin: str,
) -> dict[str, Any]:
    """Write headers, body and attachments to `out`; complete and return the message's metadata."""
    if not body.strip() and not attachments and not metadata.get("subject"):
        raise EmptyInput("email has no subject, no body and no attachments")
    with out.section(f"{origin}headers" if origin else "headers"):
        out.add("".join(f"{title}: {metadata[key]}\n" for title, key in _TEXT_HEADERS if metadata.get(key)))
    with out.section(f"{origin}body" if origin else "body"):
        out.add(body.replace("\r\n", "\n").strip() + "\n")
    metadata["attachments"] = [att.name for att in attachments if att.name]
    metadata["unnamed_parts"] = unnamed
    skipped: list[str] = []
    for att in attachments:
        reason = _attach(att, out, tree, depth, origin, metadata, skipped)
        if reason:
            skipped.append(f"{att.label}: {reason}")
    if skipped:
        metadata["skipped_attachments"] = skipped
    return metadata


def _attach(
    att: _Attachment,
    out: TextBuilder,
    tree: _Tree,
    depth: int,
    origin: str,
    metadata: dict[str, Any],
    skipped: list[str],
) -> str:
    """Parse one attachment into `out`. Returns '' on success, else why it was left out. A nested
    message's attachments, header notes and what it left out are added to `metadata` and `skipped`,
    so no limit hit deep down goes unrecorded."""
    kind = _attachment_kind(att)
    if kind is None:
        return f"unsupported type {att.content_type}"
    if depth + 1 > tree.limits.max_attachment_depth:
        return f"nested deeper than {tree.limits.max_attachment_depth} levels"
    if att.size > tree.bytes_left:
        return f"over the attachment size budget ({tree.limits.max_attachment_bytes} bytes per email)"
    tree.bytes_left -= att.size
    label = f"{origin}attachment:{att.label}"
    scratch = TextBuilder()
    try:
        if kind in ("eml", "msg"):
            nested = _nested(att, kind, scratch, tree, depth + 1, label + "/")
            metadata["attachments"].extend(f"{att.label}/{name}" for name in nested["attachments"])
            skipped.extend(f"{att.label}/{note}" for note in nested.get("skipped_attachments", []))
            if nested.get("header_notes"):  # already prefixed with where they are
                metadata.setdefault("header_notes", []).extend(nested["header_notes"])
        else:
            _parse_file_attachment(att, kind, scratch, tree, label)
    except OcrUnavailable:
        if kind == "image":  # a picture in a mail is a footnote; the mail is still read
            return "not OCRed: Tesseract is not installed"
        raise  # a scanned PDF nobody can read is the document's error, not a footnote
    except InputError as exc:
        return f"{type(exc).__name__}: {exc}"
    if not scratch.text().strip():
        return "no text"
    with out.section(label):
        out.add(f"--- Attachment: {att.label} ---\n")
        offset = out.length
        out.add(scratch.text())
        out.pages.extend(replace(p, start=p.start + offset, end=p.end + offset) for p in scratch.pages)
        out.sections.extend(replace(s, start=s.start + offset, end=s.end + offset) for s in scratch.sections)
    return ""


def _nested(att: _Attachment, kind: str, out: TextBuilder, tree: _Tree, depth: int, origin: str) -> dict[str, Any]:
    if att.message is not None:
        return _outlook(att.message, out, tree, depth, origin)
    return (_eml if kind == "eml" else _msg)(att.data, out, tree, depth, origin)


def _parse_file_attachment(att: _Attachment, kind: str, out: TextBuilder, tree: _Tree, label: str) -> None:
    if kind == "pdf":
        from extractor.parse.pdf import parse_pdf

        parse_pdf(att.data, out, tree.limits, origin=label)
    elif kind == "image":
        from extractor.parse.image import parse_image

        parse_image(att.data, out, tree.limits, _image_format(att), origin=label)
    else:
        text = charsets.decode(att.data, att.charset, tree.charset_notes, label)
        out.add(html_to_text(text) if kind == "html" else text)


def _image_format(att: _Attachment) -> str:
    from extractor.parse import image_format

    if att.data.startswith(b"GIF8"):
        return "gif"
    if att.data.startswith(b"BM"):
        return "bmp"
    return image_format(att.data, att.name or "image." + att.content_type.rpartition("/")[2])


def _attachment_kind(att: _Attachment) -> str | None:
    ctype, name = att.content_type.lower(), att.name.lower()
    if ctype in _IMAGE_TYPES or name.endswith((".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp")):
        return "image"
    if ctype == "application/pdf" or name.endswith(".pdf"):
        return "pdf"
    if ctype == "message/rfc822" or name.endswith(".eml"):
        return "eml"
    if ctype == "application/vnd.ms-outlook" or name.endswith(".msg") or att.message is not None:
        return "msg"
    if ctype == "text/html" or name.endswith((".html", ".htm")):
        return "html"
    if (ctype.startswith("text/") and ctype != "text/rtf") or name.endswith((".txt", ".md", ".csv")):
        return "text"  # text/calendar, text/x-anything: text all the same (RTF is markup, not text)
    return None
