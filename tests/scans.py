"""Scanned documents made by code: pages rendered to images, rotated slightly, with noise."""

from __future__ import annotations

import io
import random

from extractor.samples import invoice_pdf
from tests.documents import INVOICE


def scanned_images(pdf: bytes, dpi: int = 150, angle: float = 1.2, noise: float = 0.05, seed: int = 0) -> list:  # type: ignore[type-arg]
    """PIL images of each page of `pdf`, as a flatbed scanner would return them."""
    import pymupdf
    from PIL import Image

    rng = random.Random(seed)
    pages = []
    for page in pymupdf.open(stream=pdf, filetype="pdf"):
        pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
        image = Image.frombytes("L", (pix.width, pix.height), pix.samples)
        image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
        pixels = image.load()
        width, height = image.size
        for _ in range(int(width * height * noise)):  # sensor noise: a share of the pixels off by up to ±70
            x, y = rng.randrange(width), rng.randrange(height)
            pixels[x, y] = max(0, min(255, pixels[x, y] + rng.randint(-70, 70)))
        pages.append(image)
    return pages


def image_bytes(image, fmt: str) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def multipage_tiff(images) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    images[0].save(buffer, format="TIFF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def image_only_pdf(images) -> bytes:  # type: ignore[no-untyped-def]
    import pymupdf

    doc = pymupdf.open()
    for image in images:
        page = doc.new_page(width=image.width * 72 / 150, height=image.height * 72 / 150)
        page.insert_image(page.rect, stream=image_bytes(image, "PNG"))
    return doc.tobytes()


def scanned_invoice_pdf() -> bytes:
    return image_only_pdf(scanned_images(invoice_pdf(INVOICE)))


def mixed_pdf() -> bytes:
    """Page 1 digital (a real text layer), page 2 the scan of the invoice's first page."""
    import pymupdf

    doc = pymupdf.open(stream=invoice_pdf(INVOICE), filetype="pdf")
    doc.delete_pages(range(1, doc.page_count))
    scan = scanned_images(invoice_pdf(INVOICE))[0]
    page = doc.new_page(width=scan.width * 72 / 150, height=scan.height * 72 / 150)
    page.insert_image(page.rect, stream=image_bytes(scan, "PNG"))
    return doc.tobytes()
