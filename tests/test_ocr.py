"""OCR in the parse stage: scanned PDFs, images (PNG, JPEG, multi-page TIFF) and image attachments
read like their digital twins; mixed PDFs OCR only their scanned pages; no Tesseract, a clear
error row."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from extractor.config import ParseLimits, RunConfig
from extractor.engines.fake import FakeEngine
from extractor.errors import ConfigError, InputError, OcrUnavailable
from extractor.parse import ocr, parse_file
from extractor.parse.pool import ParsePool
from extractor.pipeline import run
from extractor.samples import invoice_pdf
from extractor.schema import load_schema
from extractor.synth.render import email_message
from tests import documents, scans
from tests.documents import INVOICE
from tests.test_pipeline import GOOD_ANSWER

needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="Tesseract is not installed (make setup installs it)"
)
KEY_STRINGS = ["T-1001", "Test Supplies Ltd", "Example Corp", "2024-05-02", "26.78", "Stapler 1 9.90 9.90"]


@needs_tesseract
def test_a_scanned_pdf_reads_like_its_digital_twin(tmp_path: Path) -> None:
    doc = parse_file(documents.write(tmp_path / "scan.pdf", scans.scanned_invoice_pdf()))
    for key in KEY_STRINGS:  # the table row keeps its line: description, quantity, price, amount
        assert key in doc.text, key
    assert doc.metadata["ocr_pages"] == [1, 2] and 0.5 < doc.metadata["ocr_confidence"] <= 1
    assert all(p.ocr_confidence is not None for p in doc.pages)


@needs_tesseract
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF"])
def test_image_files_are_documents(fmt: str, tmp_path: Path) -> None:
    images = scans.scanned_images(invoice_pdf(INVOICE))
    data = scans.multipage_tiff(images) if fmt == "TIFF" else scans.image_bytes(images[0], fmt)
    doc = parse_file(documents.write(tmp_path / f"scan.{fmt.lower()}", data))
    assert doc.kind == "image" and "T-1001" in doc.text and "26.78" in doc.text
    assert len(doc.pages) == (2 if fmt == "TIFF" else 1)
    if fmt == "TIFF":
        assert "Late fee" in doc.text[doc.pages[1].start : doc.pages[1].end]  # the second frame is page 2


@needs_tesseract
def test_a_mixed_pdf_ocrs_only_its_scanned_page(tmp_path: Path) -> None:
    doc = parse_file(documents.write(tmp_path / "mixed.pdf", scans.mixed_pdf()))
    digital = parse_file(documents.invoice(tmp_path))
    assert doc.metadata["ocr_pages"] == [2]
    first, second = doc.pages
    assert first.ocr_confidence is None and doc.text[first.start : first.end] == digital.text[: digital.pages[0].end]
    assert "T-1001" in doc.text[second.start : second.end]


@needs_tesseract
def test_an_image_attached_to_an_email_is_read(tmp_path: Path) -> None:
    photo = scans.image_bytes(scans.scanned_images(invoice_pdf(INVOICE))[0], "JPEG")
    mail = email_message(
        "a@x.org",
        "b@x.org",
        "invoice attached",
        "Photo of the invoice attached.",
        attachments=[("invoice.jpg", "image/jpeg", photo)],
    )
    doc = parse_file(documents.write(tmp_path / "mail.eml", mail))
    assert "T-1001" in doc.text and doc.metadata["ocr_pages"] == ["attachment:invoice.jpg#1"]
    config = RunConfig(decoding="json", parse_workers=0)
    record = run([tmp_path / "mail.eml"], load_schema("invoice"), FakeEngine([GOOD_ANSWER]), config).records[0]
    assert record.ok and record.ocr and record.provenance is not None and record.provenance.ocr_pages == 1


def test_without_tesseract_a_scan_is_an_error_row_that_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ocr, "binary", lambda: None)
    path = documents.write(tmp_path / "scan.pdf", scans.scanned_invoice_pdf())
    with pytest.raises(OcrUnavailable, match="apt-get install tesseract-ocr"):
        parse_file(path)
    config = RunConfig(decoding="json", parse_workers=0)
    record = run([path, documents.invoice(tmp_path)], load_schema("invoice"), FakeEngine([GOOD_ANSWER]), config)
    errors = [(r.error.stage.value, r.error.type) for r in record.records if r.error]
    assert errors == [("parse", "OcrUnavailable")] and record.ok == 1


@needs_tesseract
def test_unknown_ocr_language_fails_before_any_document(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tesseract-ocr-xxx"):
        ocr.check_languages("eng+xxx")
    ocr.check_languages("eng")
    config = RunConfig(limits=ParseLimits(ocr_lang="eng+xxx"))
    with pytest.raises(ConfigError, match="not installed"):  # the API too, before any document is read
        run([documents.invoice(tmp_path)], load_schema("invoice"), FakeEngine([]), config)


@needs_tesseract
def test_ocr_can_be_switched_off(tmp_path: Path) -> None:
    path = documents.write(tmp_path / "scan.pdf", scans.scanned_invoice_pdf())
    with pytest.raises(Exception, match="OCR is switched off"):
        parse_file(path, ParseLimits(ocr=False))


@needs_tesseract
def test_ocr_pages_have_their_own_timeout_and_a_long_scan_is_not_stopped_for_being_long(tmp_path: Path) -> None:
    path = documents.write(tmp_path / "scan.pdf", scans.scanned_invoice_pdf())
    with pytest.raises(InputError, match=r"OCR of page 1 took longer than 0\.001 s"):
        parse_file(path, ParseLimits(ocr_page_timeout_s=0.001))
    # The whole file takes longer than the parse timeout, each page less than the OCR page timeout:
    # every OCR page tells the pool it is alive, so the file is not stopped.
    long_scan = documents.write(
        tmp_path / "long.pdf", scans.image_only_pdf(scans.scanned_images(invoice_pdf(INVOICE)) * 3)
    )
    limits = ParseLimits(parse_timeout_s=2.5, ocr_page_timeout_s=30)
    with ParsePool(limits, workers=1) as pool:
        (parsed,) = pool.map([long_scan])
    assert parsed.error is None and parsed.document is not None and len(parsed.document.pages) == 6
    assert parsed.seconds > 2.5  # longer than the parse timeout, yet not stopped


def test_a_broken_image_is_an_error_row(tmp_path: Path) -> None:
    broken = documents.write(tmp_path / "photo.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")
    named_wrong = documents.write(tmp_path / "scan.png", b"%PDF-1.4 truncated")  # content decides the kind
    config = RunConfig(decoding="json", parse_workers=0)
    result = run([broken, named_wrong], load_schema("invoice"), FakeEngine([GOOD_ANSWER]), config)
    errors = {Path(r.source).name: (r.kind, r.error.type) for r in result.records if r.error}
    assert errors == {"photo.jpg": ("image", "CorruptInput"), "scan.png": ("image", "CorruptInput")}
