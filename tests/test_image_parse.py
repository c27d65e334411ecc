"""Images in every colour model reach OCR as 8-bit grey; tiny images are skipped; broken ones are
CorruptInput. Runs without Tesseract: the OCR call is replaced by a recorder."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from extractor.errors import CorruptInput, EmptyInput
from extractor.parse import image, parse_file
from extractor.parse.image import MIN_SIDE_PX, grey_png
from extractor.parse.ocr import OcrText
from tests import documents


def picture(mode: str, fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    """An image in Pillow `mode`: P (paletted), RGBA, LA (grey + alpha), 1 (bit), I;16, CMYK, L."""
    from PIL import Image

    img = Image.new("RGB", size, (250, 250, 250))
    img.paste((10, 20, 30), (8, 8, size[0] // 2, size[1] // 2))
    if mode == "I;16":  # 16-bit grey: scale 8-bit values to the full 16-bit range
        img = img.convert("L").convert("I").point(lambda v: v * 257).convert("I;16")
    elif mode == "P":
        img = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    else:
        img = img.convert(mode)
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


def _pixmap(png: bytes):  # type: ignore[no-untyped-def]
    import pymupdf

    return pymupdf.Pixmap(png)


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("P", "PNG"), ("RGBA", "PNG"), ("LA", "PNG"), ("1", "PNG"), ("I;16", "PNG"), ("CMYK", "JPEG"), ("L", "JPEG")]
    + [("P", "GIF"), ("RGB", "BMP")],
)
def test_every_colour_model_becomes_8_bit_grey(mode: str, fmt: str) -> None:
    pix = _pixmap(grey_png(picture(mode, fmt), fmt))
    assert (pix.n, pix.alpha, pix.width, pix.height) == (1, 0, 64, 48)
    assert pix.pixel(4, 4)[0] > 200 and pix.pixel(12, 12)[0] < 80  # light page, dark block: content kept


@pytest.mark.parametrize("size", [(1, 1), (MIN_SIDE_PX - 1, 200), (200, 16)])
def test_tiny_images_are_empty_without_ocr(size: tuple[int, int]) -> None:
    with pytest.raises(EmptyInput, match="too small"):
        grey_png(picture("P", "GIF", size), "gif")


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"GIF89a\x01", b"\xff\xd8\xff\xe0 not a jpeg"])
def test_broken_bytes_are_corrupt_input(data: bytes) -> None:
    with pytest.raises(CorruptInput, match="not a readable"):
        grey_png(data, "png")


def test_an_rgba_png_file_is_ocred_in_grey(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: `Exception: Unrecognised args for constructing Pixmap` from converting alpha to RGB."""
    seen: list[bytes] = []
    monkeypatch.setattr(image, "read_image", lambda png, limits, what: seen.append(png) or OcrText("INV-9", 0.9, 1))
    doc = parse_file(documents.write(tmp_path / "logo.png", picture("RGBA", "PNG")))
    assert doc.text.strip() == "INV-9" and doc.metadata["image_format"] == "png"
    assert _pixmap(seen[0]).n == 1


def test_a_tiny_image_file_is_an_empty_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image, "read_image", lambda *a: pytest.fail("a spacer must not be OCRed"))
    with pytest.raises(EmptyInput, match="1x1 px"):
        parse_file(documents.write(tmp_path / "spacer.png", picture("RGBA", "PNG", (1, 1))))
