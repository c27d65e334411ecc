"""Images -> text by OCR: PNG, JPEG, TIFF (multi-page TIFF: a page per frame)."""

from __future__ import annotations

from typing import Any

from extractor.config import ParseLimits
from extractor.errors import CorruptInput, EmptyInput, TooLarge
from extractor.parse.builder import TextBuilder
from extractor.parse.ocr import ocr_page, read_image

IMAGE_TYPES = {"png": "png", "jpeg": "jpg", "jpg": "jpg", "tiff": "tiff", "tif": "tiff"}


def parse_image(data: bytes, out: TextBuilder, limits: ParseLimits, fmt: str, origin: str = "") -> dict[str, Any]:
    """An image file (PNG, JPEG, TIFF; multi-page TIFF is one page per frame) read by OCR."""
    import pymupdf

    if not limits.ocr:
        raise EmptyInput("an image has no text layer and OCR is switched off")
    try:
        doc = pymupdf.open(stream=data, filetype=IMAGE_TYPES.get(fmt, fmt))
    except (pymupdf.FileDataError, pymupdf.mupdf.FzErrorBase, RuntimeError, ValueError) as exc:
        raise CorruptInput(f"not a readable {fmt.upper()} image ({exc})") from exc
    with doc:
        if doc.page_count > limits.max_pages:
            raise TooLarge(f"image has {doc.page_count} pages, over the limit of {limits.max_pages}")
        for number in range(doc.page_count):
            what = f"image page {number + 1}" + (f" of {origin}" if origin else "")
            try:
                page = doc[number]
                # a single photo is read at its own pixels, not re-rendered
                png = _as_png(data) if doc.page_count == 1 and fmt in ("png", "jpg", "jpeg") else None
            except (pymupdf.mupdf.FzErrorBase, RuntimeError, ValueError) as exc:
                raise CorruptInput(f"not a readable {fmt.upper()} image ({exc})") from exc
            read = read_image(png, limits, what) if png is not None else ocr_page(page, limits, what)
            out.add_page(page.number + 1, read.text, origin=origin, ocr_confidence=read.confidence or 0.0)
        return {"page_count": doc.page_count, "image_format": fmt}


def _as_png(data: bytes) -> bytes:
    import pymupdf

    pix = pymupdf.Pixmap(data)
    if pix.alpha or pix.n > 3:
        pix = pymupdf.Pixmap(pymupdf.csRGB, pix, 0)
    return pix.tobytes("png")
