"""OCR for pages without a usable text layer and for images: PyMuPDF renders, Tesseract reads.

Tesseract runs as its own process per page (`tesseract - - tsv`), which gives three things the
in-library route does not: a per-page timeout that really stops it, word confidences (the page's
confidence is their mean, 0..1), and word boxes grouped into Tesseract's lines, so the rows of a
scanned table stay rows of text. Tesseract's language packs are Debian packages
(`tesseract-ocr-fra`, `-deu`, ...); `languages()` lists what is installed.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from extractor.config import ParseLimits
from extractor.errors import ConfigError, InputError, OcrUnavailable

INSTALL_HINT = "install it with: apt-get install tesseract-ocr (other languages: tesseract-ocr-fra, -deu, ...)"
MAX_PIXELS = 40_000_000  # a page rendered larger than this is rendered at a lower resolution
_WORD = re.compile(r"\w", re.UNICODE)

# Set by the parse worker: called before each page is OCRed, so the pool knows the worker is
# alive and making progress on a long scan (its timeout then counts from the latest page).
on_page: Callable[[], None] | None = None


@dataclass(frozen=True)
class OcrText:
    text: str
    confidence: float | None  # mean word confidence 0..1; None when no word was found
    words: int


def binary() -> str | None:
    return shutil.which("tesseract")


@functools.cache
def languages() -> frozenset[str]:
    """Installed language packs (asked once per process: packs do not change during a run)."""
    tesseract = binary()
    if tesseract is None:
        return frozenset()
    listing = subprocess.run([tesseract, "--list-langs"], capture_output=True, text=True, timeout=30).stdout
    return frozenset(line.strip() for line in listing.splitlines()[1:] if line.strip())


def check_languages(lang: str) -> None:
    """Fail fast (before any document is read) on a language pack that is not installed."""
    if binary() is None:
        return  # scanned pages become error rows that say how to install Tesseract
    installed = languages()
    missing = [code for code in lang.split("+") if code not in installed]
    if missing:
        packages = " ".join(f"tesseract-ocr-{code}" for code in missing)
        raise ConfigError(
            f"OCR language(s) {', '.join(missing)} not installed (installed: {', '.join(sorted(installed))}); "
            f"apt-get install {packages}"
        )


def needs_ocr(text: str, page: Any) -> bool:
    """A page whose text layer is missing or garbage, and that shows an image."""
    usable = len(_WORD.findall(text)) >= 8 and text.count("\ufffd") < 0.1 * max(len(text), 1)
    return not usable and bool(page.get_images())


def ocr_page(page: Any, limits: ParseLimits, what: str) -> OcrText:
    """Render `page` (a PyMuPDF page) in grey and read it."""
    import pymupdf

    dpi = limits.ocr_dpi
    width_in, height_in = page.rect.width / 72, page.rect.height / 72
    if width_in * height_in * dpi * dpi > MAX_PIXELS:
        dpi = int((MAX_PIXELS / max(width_in * height_in, 1e-6)) ** 0.5)
    pix = page.get_pixmap(dpi=max(dpi, 50), colorspace=pymupdf.csGRAY)
    return read_image(pix.tobytes("png"), limits, what)


def read_image(image: bytes, limits: ParseLimits, what: str) -> OcrText:
    """Tesseract on one image (PNG bytes), with the per-page timeout."""
    tesseract = binary()
    if tesseract is None:
        raise OcrUnavailable(f"{what} has no text layer and needs OCR, but Tesseract is not installed; {INSTALL_HINT}")
    if on_page is not None:
        on_page()
    try:
        done = subprocess.run(
            [tesseract, "-", "-", "-l", limits.ocr_lang, "--psm", "3", "tsv"],
            input=image,
            capture_output=True,
            timeout=limits.ocr_page_timeout_s,
        )
    except subprocess.TimeoutExpired:
        raise InputError(f"OCR of {what} took longer than {limits.ocr_page_timeout_s:g} s and was stopped") from None
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise InputError(f"OCR of {what} failed: {reason[0]}")
    return _from_tsv(done.stdout.decode("utf-8", errors="replace"))


def _from_tsv(tsv: str) -> OcrText:
    """Words grouped into Tesseract's lines; a blank line between its blocks."""
    lines: dict[tuple[int, int, int, int], list[str]] = {}
    confidences: list[float] = []
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) != 12 or cells[0] != "5" or not cells[11].strip():
            continue  # level 5 = a word
        page, block, par, line = (int(c) for c in cells[1:5])
        lines.setdefault((page, block, par, line), []).append(cells[11].strip())
        if float(cells[10]) >= 0:
            confidences.append(float(cells[10]) / 100)
    parts: list[str] = []
    previous_block: tuple[int, int] | None = None
    for (page, block, _par, _line), words in lines.items():
        if previous_block is not None and (page, block) != previous_block:
            parts.append("")
        parts.append(" ".join(words))
        previous_block = (page, block)
    confidence = sum(confidences) / len(confidences) if confidences else None
    return OcrText("\n".join(parts), round(confidence, 4) if confidence is not None else None, len(confidences))
