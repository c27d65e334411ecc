"""Outlook .msg files (MS-OXMSG) -> `OutlookMessage`: headers, bodies and attachments, all decoded.

python-oxmsg loads the compound file into storages and streams; the properties are read here, not
through oxmsg's `Message`, because oxmsg decodes every 8-bit string (PtypString8) strictly with a
single code page: the internet code page for the body, so a Japanese Outlook body written in cp932
under code page 50220 (iso-2022-jp) raises UnicodeDecodeError, and a code page Python lacks fails
every property of the message. Here an 8-bit string is read with the code page the file declares
(PidTagInternetCodepage 0x3FDE for the body and HTML, PidTagMessageCodepage 0x3FFD for the other
strings, each the other's fallback) through `charsets.decode`, whose supersets read iso-2022-jp
labels on 8-bit bytes as cp932, then detection, then replacement, each with a note.

MS-OXMSG 2.4: a storage's `__properties_version1.0` stream starts with a header (32 bytes for the
message, 24 for an embedded message, 8 for a recipient or attachment), then 16-byte entries: the
property tag (type in the low 16 bits, id in the high 16), flags, and a fixed-size value in place.
Variable-size values live in streams named `__substg1.0_<id><type>` (hex).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import format_datetime, formataddr
from typing import Any

from extractor.errors import CorruptInput
from extractor.parse import charsets

_STRING8, _UNICODE, _BINARY = 0x001E, 0x001F, 0x0102
_SUBJECT, _SUBMIT_TIME, _TRANSPORT_HEADERS = 0x0037, 0x0039, 0x007D
_RECIPIENT_TYPE = 0x0C15
# sender address: SMTP, then PidTagSenderEmailAddress, then the "sent representing" pair; name likewise
_SENDER_ADDRESSES, _SENDER_NAMES = (0x5D01, 0x0C1F, 0x5D02, 0x0065), (0x0C1A, 0x0042)
_BODY, _HTML, _MESSAGE_ID = 0x1000, 0x1013, 0x1035
_DISPLAY_NAME, _EMAIL_ADDRESS, _SMTP_ADDRESS = 0x3001, 0x3003, 0x39FE
_ATTACH_DATA, _ATTACH_FILENAME, _ATTACH_METHOD, _ATTACH_LONG_FILENAME, _ATTACH_MIME = (
    0x3701,
    0x3704,
    0x3705,
    0x3707,
    0x370E,
)
_INTERNET_CODEPAGE, _MESSAGE_CODEPAGE = 0x3FDE, 0x3FFD
_EMBEDDED_MESSAGE = 5  # PidTagAttachMethod afEmbeddedMessage: the attachment is a message storage
_RECIPIENT_FIELDS = {1: "To", 2: "Cc"}  # Bcc (3) is not part of what recipients see


@dataclass(frozen=True)
class OutlookAttachment:
    name: str  # as the sender named it; "" when it has none
    mime_type: str
    data: bytes
    message: OutlookMessage | None = None  # an embedded message (it has no bytes of its own)
    size: int = 0


@dataclass(frozen=True)
class OutlookMessage:
    headers: list[tuple[str, str]]  # raw (name, value) pairs, as in an .eml: encoded words left in
    body: str
    html: str
    attachments: list[OutlookAttachment] = field(default_factory=list)


def read_msg(data: bytes, notes: list[str], max_depth: int, origin: str = "") -> OutlookMessage:
    """Read an .msg file. Embedded messages are read down to `max_depth` levels."""
    from olefile import MAGIC, OleFileIO
    from oxmsg.storage import Storage

    if not data.startswith(MAGIC):
        raise CorruptInput("not an Outlook .msg file (no OLE compound file signature)")
    try:
        with OleFileIO(io.BytesIO(data)) as ole:  # a file object: olefile takes short bytes for a path
            root = Storage.from_ole(ole)
    except Exception as exc:  # olefile raises assorted errors (OSError, struct.error, ...) on damaged files
        raise CorruptInput(f"not a readable Outlook .msg file ({type(exc).__name__}: {exc})") from exc
    return read_storage(root, notes, max_depth, origin)


def read_storage(root: Any, notes: list[str], max_depth: int, origin: str = "") -> OutlookMessage:
    """Read a message from its root storage (python-oxmsg's `Storage`: `.streams`, `.storages`)."""
    return _message(root, 32, (None, None), notes, max_depth, origin)


class _Properties:
    """The properties of one storage (a message, recipient or attachment)."""

    def __init__(self, storage: Any, header_bytes: int, labels: tuple[str | None, str | None], notes: list[str]):
        self.streams: dict[str, bytes] = {s.name: s.bytes_ for s in storage.streams}
        self.storages: dict[str, Any] = {s.name: s for s in storage.storages}
        self.notes = notes
        table = self.streams.get("__properties_version1.0", b"")
        self.fixed = {
            struct.unpack_from("<H", table, at + 2)[0]: table[at + 8 : at + 16]
            for at in range(header_bytes, len(table) - 15, 16)
        }
        # (body charset, other strings' charset): the file's own code pages, else the parent's
        internet = charsets.for_codepage(self.integer(_INTERNET_CODEPAGE))
        message = charsets.for_codepage(self.integer(_MESSAGE_CODEPAGE))
        self.labels = (internet or message or labels[0], message or internet or labels[1])

    def integer(self, pid: int) -> int | None:
        value = self.fixed.get(pid)
        return struct.unpack("<I", value[:4])[0] if value else None

    def time(self, pid: int) -> datetime | None:
        value = self.fixed.get(pid)
        if not value:
            return None
        try:  # FILETIME: 100-ns ticks since 1601
            return datetime(1601, 1, 1, tzinfo=UTC) + timedelta(microseconds=struct.unpack("<Q", value)[0] // 10)
        except OverflowError:
            return None

    def binary(self, pid: int) -> bytes:
        return self.streams.get(f"__substg1.0_{pid:04X}{_BINARY:04X}", b"")

    def string(self, pid: int, what: str) -> str:
        unicode = self.streams.get(f"__substg1.0_{pid:04X}{_UNICODE:04X}")
        if unicode is not None:
            return unicode.decode("utf-16-le", errors="replace").rstrip("\0")
        data = self.streams.get(f"__substg1.0_{pid:04X}{_STRING8:04X}", b"").rstrip(b"\0")
        label = self.labels[0] if pid in (_BODY, _HTML) else self.labels[1]
        return charsets.decode(data, label, self.notes, what) if data else ""


def _message(
    storage: Any, header_bytes: int, labels: tuple[str | None, str | None], notes: list[str], depth: int, origin: str
) -> OutlookMessage:
    props = _Properties(storage, header_bytes, labels, notes)
    html_bytes = props.binary(_HTML)
    html = (
        charsets.decode(html_bytes, props.labels[0], notes, f"{origin}HTML body")
        if html_bytes
        else props.string(_HTML, f"{origin}HTML body")
    )
    attachments = [
        _attachment(sub, props, notes, depth, origin)
        for name, sub in sorted(props.storages.items())
        if name.startswith("__attach_version1.0_#")
    ]
    return OutlookMessage(_headers(props, origin), props.string(_BODY, f"{origin}body"), html, attachments)


def _headers(props: _Properties, origin: str) -> list[tuple[str, str]]:
    """The transport headers the message arrived with, completed from its properties: a draft or a
    message saved from Exchange has none, and the Subject property is what Outlook shows."""
    transport = props.string(_TRANSPORT_HEADERS, f"{origin}transport headers")
    fields: dict[str, list[tuple[str, str]]] = {}
    for name, value in HeaderParser(policy=compat32).parsestr(transport).raw_items():
        fields.setdefault(name.lower(), []).append((name, value))
    subject = props.string(_SUBJECT, f"{origin}subject")
    if subject:
        fields["subject"] = [("Subject", subject)]
    sent = props.time(_SUBMIT_TIME)
    if sent is not None:
        fields["date"] = [("Date", format_datetime(sent))]
    if "from" not in fields:
        address = next(filter(None, (props.string(pid, "sender") for pid in _SENDER_ADDRESSES)), "")
        name = next(filter(None, (props.string(pid, "sender") for pid in _SENDER_NAMES)), "")
        if address or name:
            name = "" if name == address else name
            fields["from"] = [("From", formataddr((name, address), "utf-8"))]
    for kind, name in _RECIPIENT_FIELDS.items():
        recipients = _recipients(props, kind)
        # the recipient table has the SMTP addresses; a transport To may hold only a display name
        if recipients and (name.lower() not in fields or all("@" in address for _, address in recipients)):
            fields[name.lower()] = [(name, ", ".join(formataddr(r, "utf-8") for r in recipients))]
    if "message-id" not in fields and props.string(_MESSAGE_ID, "message id"):
        fields["message-id"] = [("Message-ID", props.string(_MESSAGE_ID, "message id"))]
    return [pair for pairs in fields.values() for pair in pairs]


def _recipients(props: _Properties, kind: int) -> list[tuple[str, str]]:
    """(display name, address) of each recipient of `kind` (To or Cc)."""
    found = []
    for name, storage in sorted(props.storages.items()):
        if name.startswith("__recip_version1.0_#"):
            recipient = _Properties(storage, 8, props.labels, props.notes)
            if recipient.integer(_RECIPIENT_TYPE) == kind:
                display = recipient.string(_DISPLAY_NAME, "recipient")
                address = recipient.string(_SMTP_ADDRESS, "recipient") or recipient.string(_EMAIL_ADDRESS, "recipient")
                address = address or (display if "@" in display else "")
                found.append(("" if display == address else display, address))
    return found


def _attachment(storage: Any, parent: _Properties, notes: list[str], depth: int, origin: str) -> OutlookAttachment:
    props = _Properties(storage, 8, parent.labels, notes)
    what = f"{origin}attachment name"
    name = props.string(_ATTACH_LONG_FILENAME, what) or props.string(_ATTACH_FILENAME, what)
    inner = props.storages.get(f"__substg1.0_{_ATTACH_DATA:04X}000D")
    if inner is not None and props.integer(_ATTACH_METHOD) == _EMBEDDED_MESSAGE:
        name = name or props.string(_DISPLAY_NAME, what)  # Outlook labels it with the message's subject
        size = _storage_bytes(inner)
        if depth <= 0:  # deeper than the limit: listed, and skipped for its depth by the caller
            return OutlookAttachment(name, "application/vnd.ms-outlook", b"", None, size)
        message = _message(inner, 24, parent.labels, notes, depth - 1, f"{origin}{name or 'message'}/")
        return OutlookAttachment(name, "application/vnd.ms-outlook", b"", message, size)
    data = props.binary(_ATTACH_DATA)
    return OutlookAttachment(
        name, props.string(_ATTACH_MIME, what) or "application/octet-stream", data, None, len(data)
    )


def _storage_bytes(storage: Any) -> int:
    return sum(len(s.bytes_) for s in storage.streams) + sum(_storage_bytes(s) for s in storage.storages)
