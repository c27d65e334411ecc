"""Bytes in a declared, undeclared or wrongly declared charset -> text. Never raises.

Mail labels lie: bodies say utf-8 and hold Latin-1, say gb2312 and hold GBK, say us-ascii and
hold 8-bit bytes, or name a charset Python does not know. `decode` reads bytes the way a mail
client does, in this order, and stops at the first step that works:

1. the declared charset, strictly; with none declared, UTF-8, then the caller's fallback (for a
   raw 8-bit header: the charset the message declares elsewhere);
2. its common superset, the one mailers really write (gb2312 -> gb18030, ks_c_5601-1987 ->
   cp949, shift_jis -> cp932, iso-2022-jp -> its extensions, then cp932 when the bytes are 8-bit,
   iso-8859-1 -> cp1252 when C1 bytes 0x80-0x9f say so, us-ascii -> utf-8);
3. the declared charset with the few undecodable bytes replaced (U+FFFD), when it reads more
   non-ASCII characters than it fails on: a damaged byte in a long text, not a wrong label;
4. detection (charset-normalizer) on the bytes, cp1252 winning a tie;
5. UTF-8 with replacement.

Every step after the first leaves a note in `notes` (what was read, with which charset and why),
which the parsers put into the document's metadata, so a guessed charset is never silent.
"""

from __future__ import annotations

import codecs
import re

# Labels seen in real mail that Python does not know, -> a codec that reads them.
_ALIASES = {
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "x-gbk": "gb18030",
    "x-euc-jp": "euc_jp",
    "cp50220": "iso2022_jp",
    "cp50221": "iso2022_jp",
    "cp50222": "iso2022_jp",
    "iso-2022-jp-ms": "iso2022_jp",
    "x-mac-roman": "mac_roman",
    "x-mac-ce": "mac_latin2",
    "x-mac-cyrillic": "mac_cyrillic",
    "utf8mb4": "utf-8",
    "x-unicode-2-0-utf-7": "utf-7",
}
# Codecs Python has that are not character sets a mail can be written in.
_NOT_CHARSETS = frozenset({"undefined", "unicode_escape", "raw_unicode_escape", "idna", "punycode"})
_JIS_SUPERSETS = ("iso2022_jp_2", "iso2022_jp_ext", "iso2022_jp_2004", "cp932")
_SUPERSETS: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "euc_kr": ("cp949",),  # Python's alias for ks_c_5601-1987
    "shift_jis": ("cp932",),
    "euc_jp": ("euc_jis_2004", "cp932"),
    "big5": ("cp950", "big5hkscs"),
    "iso2022_jp": _JIS_SUPERSETS,
    "iso2022_jp_1": _JIS_SUPERSETS,
    "tis-620": ("cp874",),
    "ascii": ("utf-8",),
    "iso8859-1": ("cp1252",),
}
# Windows code pages (Outlook's PidTagMessageCodepage / PidTagInternetCodepage) whose Python codec
# is not simply "cp<number>".
_CODE_PAGES = {
    65001: "utf-8",
    65000: "utf-7",
    1200: "utf-16-le",
    1201: "utf-16-be",
    20127: "ascii",
    20932: "euc_jp",
    50220: "iso2022_jp",
    50221: "iso2022_jp",
    50222: "iso2022_jp",
    50225: "iso2022_kr",
    51932: "euc_jp",
    51936: "gb2312",
    51949: "euc_kr",
    52936: "hz",
    54936: "gb18030",
    10000: "mac_roman",
}
_C1_BYTES = re.compile(rb"[\x80-\x9f]")
_DETECT_BYTES = 64 * 1024  # detection reads a sample: enough to tell, and fast on large bodies


def codec_for(label: str | None) -> str | None:
    """Python's codec for a charset label, or None when the label names no usable charset."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    if re.fullmatch(r"iso-8859-\d+-[ie]", name):  # Hebrew/Arabic "logical"/"explicit" variants
        name = name[:-2]
    try:
        codec = codecs.lookup(name).name
        b"a".decode(codec, "ignore")  # rejects codecs that are not text encodings (base64, zlib, ...)
    except (LookupError, ValueError):  # ValueError: a label with a NUL in it (UnicodeError included)
        return None
    return None if codec in _NOT_CHARSETS else codec


def for_codepage(codepage: int | None) -> str | None:
    """The charset label of a Windows code page number, or None when Python has no codec for it."""
    if codepage is None:
        return None
    if 28591 <= codepage <= 28606:
        return f"iso8859-{codepage - 28590}"
    return codec_for(_CODE_PAGES.get(codepage, f"cp{codepage}"))


def decode(data: bytes, declared: str | None, notes: list[str], what: str, fallback: str | None = None) -> str:
    """`data` as text, read as `declared` if it can be; see the module docstring for the steps.

    `fallback` is the charset to try on undeclared bytes that are not UTF-8: for a raw 8-bit header,
    the charset the message declares elsewhere (mail clients do the same).
    """
    codec = codec_for(declared)
    if declared and codec is None:
        notes.append(f"{what}: unknown charset {declared!r}")
    if codec is not None:
        read = _read_as(data, codec)
        if read is not None:
            if read[1] != codec:
                notes.append(f"{what}: declared {declared}, read as {read[1]}")
            return read[0]
        text, bad = _replacing(data, codec)
        if bad < sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd"):
            notes.append(f"{what}: {bad} byte(s) not valid {declared}, replaced")
            return text
    elif _strict(data, "utf-8") is not None:
        return data.decode("utf-8")  # undeclared and valid UTF-8 (plain ASCII included): no guess needed
    elif (hint := codec_for(fallback)) is not None and (read := _read_as(data, hint)) is not None:
        notes.append(f"{what}: no charset declared, read as {read[1]}, the message's charset")
        return read[0]
    return _guess(data, declared, notes, what)


def _read_as(data: bytes, codec: str) -> tuple[str, str] | None:
    """`data` read strictly as `codec` or, where the bytes need it, its superset: (text, codec used)."""
    text = _strict(data, codec)
    if text is not None and not (codec == "iso8859-1" and _C1_BYTES.search(data)):
        return text, codec
    for superset in _SUPERSETS.get(codec, ()):
        wider = _strict(data, superset)
        if wider is not None:
            return wider, superset
    return (text, codec) if text is not None else None  # Latin-1 with C1 bytes cp1252 cannot read


def _guess(data: bytes, declared: str | None, notes: list[str], what: str) -> str:
    from charset_normalizer import from_bytes

    sample = data[:_DETECT_BYTES]
    if len(data) > _DETECT_BYTES and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n") + 1]  # never cut a multi-byte character in two
    # UTF-16/32 without a byte-order mark is never what an undeclared mail part is in; detection
    # offers it on short inputs only because any even number of bytes decodes.
    found = [m for m in from_bytes(sample) if not m.encoding.startswith(("utf_16", "utf_32"))]
    encoding = found[0].encoding if found else None
    if found:
        # Short Western texts read the same in cp1250 and cp1252 and detection cannot choose; cp1252
        # is far more common in mail (it is what "Latin-1" labels mean in practice), so it wins a tie.
        tied = [m for m in found if (m.chaos, m.coherence) == (found[0].chaos, found[0].coherence)]
        encoding = "cp1252" if any("cp1252" in m.could_be_from_charset for m in tied) else encoding
    said = f"declared {declared}" if declared else "no charset declared"
    if encoding is not None and codec_for(encoding) is not None:
        text, bad = _replacing(data, encoding)
        replaced = f", {bad} byte(s) replaced" if bad else ""
        notes.append(f"{what}: {said}, guessed {encoding}{replaced}")
        return text
    text, bad = _replacing(data, "utf-8")
    notes.append(f"{what}: {said}, charset not recognised; read as utf-8, {bad} byte(s) replaced")
    return text


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeError:  # UnicodeDecodeError, and the plain UnicodeError some codecs raise
        return None


def _replacing(data: bytes, codec: str) -> tuple[str, int]:
    """Decode with U+FFFD for bad bytes; also return how many replacements were made."""
    text = data.decode(codec, errors="replace")
    return text, text.count("\ufffd")
