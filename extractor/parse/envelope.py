"""Raw e-mail header values -> the envelope a user expects. A malformed header never raises.

Header values come in raw, as the stdlib parser leaves them (compat32: undecoded encoded words,
8-bit bytes as surrogate escapes), and are decoded here, so that every charset problem goes
through `charsets.decode` and is noted rather than raised or turned into lone surrogates:

- raw 8-bit bytes (RFC 6532 UTF-8, or a legacy charset sent unencoded) are read as UTF-8, else
  by detection;
- RFC 2047 encoded words in any charset Python knows (with its supersets), adjacent words in one
  charset joined before decoding, since mailers split multi-byte characters across words;
- addresses are split before their display names are decoded, so an encoded comma in a name
  cannot split one address into two.

`envelope` returns these metadata keys (each only when the header is present and readable):
  subject, from, to, cc, reply_to, date   decoded header text
  message_id   the Message-ID without its angle brackets
  from_addresses, to_addresses, cc_addresses, reply_to_addresses   addr-specs, in order
  from_names, to_names, cc_names, reply_to_names   display names, parallel to *_addresses ("" if none)
  date_iso   the Date as ISO 8601, with its UTC offset when the header gives one
  header_notes   what could not be read (a bad date, an address list with no address in it)
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from datetime import datetime
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from extractor.parse import charsets

ADDRESS_FIELDS = {"from": "from", "to": "to", "cc": "cc", "reply-to": "reply_to"}
TEXT_FIELDS = {"subject": "subject", "date": "date", "message-id": "message_id"}
_LIST_FIELDS = ("to", "cc")  # a repeated To or Cc header adds addresses; other fields take the first
ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
_EMPTY_GROUP = re.compile(r"[^:<>@]*:\s*;?\s*")  # "undisclosed-recipients:;": no address, by design
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_QP_BYTE = re.compile(rb"=([0-9A-Fa-f]{2})")


def envelope(
    items: Iterable[tuple[str, str]], notes: list[str], origin: str = "", hint: str | None = None
) -> dict[str, Any]:
    """Metadata from raw (name, value) header pairs; charset notes go to `notes`. `hint` is the
    charset the message declares elsewhere, tried on raw 8-bit headers that are not UTF-8."""
    raw: dict[str, str] = {}
    for name, value in items:
        key = name.strip().lower()
        if key in ADDRESS_FIELDS or key in TEXT_FIELDS:
            text = header_text(value, notes, f"{origin}{name} header", hint)
            if key in raw and key in _LIST_FIELDS:
                raw[key] += ", " + text
            raw.setdefault(key, text)
    metadata: dict[str, Any] = {}
    problems: list[str] = []
    for key, field in TEXT_FIELDS.items():
        if raw.get(key, "").strip():
            metadata[field] = decode_words(raw[key], notes, f"{origin}{key} header").strip()
    if "message_id" in metadata:
        metadata["message_id"] = metadata["message_id"].strip("<> ")  # the id itself, as other tools give it
    for key, field in ADDRESS_FIELDS.items():
        if raw.get(key, "").strip():
            _add_addresses(metadata, field, raw[key], notes, problems, origin)
    if "date" in metadata:
        iso = iso_date(metadata["date"], problems)
        if iso:
            metadata["date_iso"] = iso
    if problems:
        metadata["header_notes"] = [f"{origin}{p}" for p in problems]
    return metadata


def header_text(value: str, notes: list[str], what: str, hint: str | None = None) -> str:
    """A raw header value, unfolded, with raw 8-bit bytes decoded; encoded words are left as they are."""
    value = _FOLD.sub("", value).strip()
    data = value.encode("utf-8", "surrogateescape")  # the parser kept 8-bit bytes as surrogate escapes
    return value if data.isascii() else charsets.decode(data, None, notes, what, fallback=hint)


def decode_words(value: str, notes: list[str], what: str) -> str:
    """Decode the RFC 2047 encoded words in `value` (whitespace between two of them is dropped)."""
    pieces: list[str | tuple[str, bytes]] = []
    end = 0
    for word in ENCODED_WORD.finditer(value):
        gap, end = value[end : word.start()], word.end()
        data = _word_bytes(word[2], word[3])
        if data is None:
            notes.append(f"{what}: a malformed encoded word is left as it is")
            pieces += [gap, word[0]]
            continue
        charset = word[1].split("*")[0]  # RFC 2231 language suffix: =?utf-8*en?...
        after_word = bool(pieces) and isinstance(pieces[-1], tuple)
        if after_word and not gap.strip():
            gap = ""  # RFC 2047 6.2: white space between adjacent encoded words is not displayed
        last = pieces[-1] if pieces else None
        if not gap and isinstance(last, tuple) and last[0].lower() == charset.lower():
            pieces[-1] = (last[0], last[1] + data)  # one character may be split across two words
        else:
            pieces += [gap, (charset, data)] if gap else [(charset, data)]
    pieces.append(value[end:])
    return "".join(p if isinstance(p, str) else charsets.decode(p[1], p[0], notes, what) for p in pieces)


def iso_date(value: str, problems: list[str]) -> str | None:
    """An RFC 5322 (or ISO 8601) date as ISO 8601; None, with a note, when it cannot be read."""
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):  # what the stdlib raises on bad dates
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            problems.append(f"date header {value[:60]!r} is not a date")
            return None
    if moment.tzinfo is None:
        problems.append(f"date header {value[:60]!r} has no time zone")
    return moment.isoformat()


def _add_addresses(
    metadata: dict[str, Any], field: str, raw: str, notes: list[str], problems: list[str], origin: str
) -> None:
    """Split first, then decode each display name: an encoded comma stays inside its name."""
    pairs = [(name, addr.strip()) for name, addr in getaddresses([raw]) if addr.strip()]
    what = f"{origin}{field} header"
    metadata[field] = decode_words(raw, notes, what).strip()
    if not pairs and not _EMPTY_GROUP.fullmatch(raw):
        problems.append(f"{field} header {raw[:60]!r} holds no address")
        return
    metadata[f"{field}_addresses"] = [addr for _, addr in pairs]
    metadata[f"{field}_names"] = [decode_words(name, notes, what).strip() for name, _ in pairs]


def _word_bytes(encoding: str, text: str) -> bytes | None:
    if encoding in "Bb":
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return None
    return _QP_BYTE.sub(lambda m: bytes([int(m[1], 16)]), text.replace("_", " ").encode("ascii", "replace"))
