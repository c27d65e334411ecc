"""Plain text, Markdown and HTML files."""

from __future__ import annotations

from extractor.errors import EncodingError
from extractor.parse.builder import TextBuilder
from extractor.parse.html import html_to_text


def decode_utf8(data: bytes, what: str = "file") -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EncodingError(
            f"{what} is not valid UTF-8 (byte {exc.start}: {data[exc.start : exc.start + 4]!r})"
        ) from exc


def parse_text(data: bytes, out: TextBuilder, html: bool = False) -> dict[str, object]:
    text = decode_utf8(data)
    out.add(html_to_text(text) if html else text.replace("\r\n", "\n"))
    return {}
