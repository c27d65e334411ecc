"""Images -> text by OCR: PNG, JPEG, GIF, BMP, TIFF (multi-page TIFF: a page per frame).

A single image is read at its own pixels, converted to 8-bit grey first: paletted, 1-bit, 16-bit,
grey+alpha, RGBA and CMYK images all reach Tesseract in the one form it reads best. An image
smaller than `MIN_SIDE_PX` on a side (spacer GIFs, tracking pixels, icons) holds no text worth a
Tesseract run and is `EmptyInput`. Bytes PyMuPDF cannot decode are `CorruptInput`, with its
message.
"""

from __future__ import annotations

from typing import Any

from extractor.config import ParseLimits
from extractor.errors import CorruptInput, EmptyInput, TooLarge
from extractor.parse.builder import TextBuilder
from extractor.parse.ocr import ocr_page, read_image

IMAGE_TYPES = {"png": "png", "jpeg": "jpg", "jpg": "jpg", "gif": "gif", "bmp": "bmp", "tiff": "tiff", "tif": "tiff"}
MIN_SIDE_PX = 32  # the smallest legible line of text is ~10 px high; below this, nothing to read
_SINGLE_IMAGE = ("png", "jpg", "jpeg", "gif", "bmp")


def parse_image(data: bytes, out: TextBuilder, limits: ParseLimits, fmt: str, origin: str = "") -> dict[str, Any]:
    """An image file (PNG, JPEG, GIF, BMP, TIFF; multi-page TIFF is one page per frame) read by OCR."""
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
            except (pymupdf.mupdf.FzErrorBase, RuntimeError, ValueError) as exc:
                raise CorruptInput(f"not a readable {fmt.upper()} image ({exc})") from exc
            # a single photo is read at its own pixels, not re-rendered
            single = doc.page_count == 1 and fmt in _SINGLE_IMAGE
            read = read_image(grey_png(data, fmt), limits, what) if single else ocr_page(page, limits, what)
            out.add_page(page.number + 1, read.text, origin=origin, ocr_confidence=read.confidence or 0.0)
        return {"page_count": doc.page_count, "image_format": fmt}


def grey_png(data: bytes, fmt: str = "image") -> bytes:
    """The image in `data` as an 8-bit grey PNG without alpha, whatever its colour model."""
    import pymupdf

    try:
        pix = pymupdf.Pixmap(data)
        if min(pix.width, pix.height) < MIN_SIDE_PX:
            raise EmptyInput(f"image is {pix.width}x{pix.height} px, too small to hold text (not OCRed)")
        if pix.alpha:
            pix = pymupdf.Pixmap(pix, 0)  # drop alpha: conversion to grey refuses it
        if pix.colorspace is None or pix.colorspace.n != 1:
            pix = pymupdf.Pixmap(pymupdf.csGRAY, pix)
        return pix.tobytes("png")
    except (pymupdf.mupdf.FzErrorBase, RuntimeError, ValueError) as exc:
        raise CorruptInput(f"not a readable {fmt.upper()} image ({exc})") from exc
