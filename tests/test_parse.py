from __future__ import annotations

from pathlib import Path

import pytest

from extractor.config import ParseLimits
from extractor.errors import (
    CorruptInput,
    EmptyInput,
    EncodingError,
    EncryptedInput,
    MissingInput,
    TooLarge,
    UnsupportedType,
)
from extractor.parse import parse_file
from tests import documents


def test_pdf_pages_offsets_table_and_metadata(tmp_path: Path) -> None:
    doc = parse_file(documents.invoice(tmp_path))
    assert doc.kind == "pdf"
    assert len(doc.pages) == 2  # the invoice and its terms page
    assert [p.number for p in doc.pages] == [1, 2]
    first, second = doc.pages
    assert "T-1001" in doc.text[first.start : first.end]
    assert "Late fee" in doc.text[second.start : second.end]
    assert first.end <= second.start
    # the line-item table reads as Markdown rows, not word soup
    assert "|Blue pens, box of 10|3|4.20|12.60|" in doc.text
    assert doc.metadata["page_count"] == 2
    assert doc.metadata["title"] == "Invoice T-1001"
    assert len(doc.doc_id) == 64


def test_doc_id_is_content_hash(tmp_path: Path) -> None:
    a = parse_file(documents.invoice(tmp_path, "a.pdf"))
    b = parse_file(documents.invoice(tmp_path, "b.pdf"))
    assert a.doc_id == b.doc_id and a.source != b.source


def test_email_with_pdf_attachment(tmp_path: Path) -> None:
    doc = parse_file(documents.email_with_pdf(tmp_path))
    assert doc.kind == "email"
    assert doc.metadata["subject"] == "Your invoice T-1001"
    assert doc.metadata["from_addresses"] == ["billing@test.example"]
    # the attachment's name is a label only: no path separators survive
    (name,) = doc.metadata["attachments"]
    assert "/" not in name and name.endswith("invoice T-1001.pdf")
    section = next(s for s in doc.sections if s.name.startswith("attachment:"))
    attached = doc.text[section.start : section.end]
    assert "T-1001" in attached and "26.78" in attached
    assert all(p.origin == section.name for p in doc.pages)
    assert doc.text[doc.pages[0].start : doc.pages[0].end] in attached
    body = next(s for s in doc.sections if s.name == "body")
    assert "please find our invoice" in doc.text[body.start : body.end]


def test_html_only_email(tmp_path: Path) -> None:
    doc = parse_file(documents.html_only_email(tmp_path))
    assert "My mug from order" in doc.text and "ORD-77" in doc.text
    assert "| Mug | 2 |" in doc.text
    assert "alert(1)" not in doc.text and "color:red" not in doc.text


def test_text_and_html_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Order 42\r\nplease", encoding="utf-8")
    (tmp_path / "b.html").write_text("<p>Hello <b>there</b></p>", encoding="utf-8")
    assert parse_file(tmp_path / "a.txt").text == "Order 42\nplease"
    assert "Hello" in parse_file(tmp_path / "b.html").text


def test_parse_never_touches_the_network(tmp_path: Path, no_network: None) -> None:
    for path in (documents.email_with_pdf(tmp_path), documents.html_only_email(tmp_path), documents.invoice(tmp_path)):
        assert parse_file(path).text


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda d: d / "nope.pdf", MissingInput, "no such file"),
        (lambda d: documents.write(d / "x.docx", b"PK\x03\x04"), UnsupportedType, "unsupported file type"),
        (lambda d: documents.write(d / "bad.pdf", b"%PDF-1.7\n1 0 obj << /Type"), CorruptInput, "not a readable PDF"),
        (documents.encrypted_pdf, EncryptedInput, "password"),
        (lambda d: documents.write(d / "empty.pdf", b""), EmptyInput, "empty"),
        (lambda d: documents.write(d / "junk.eml", b"\x00\x01\x02 no headers at all"), CorruptInput, "not an email"),
        (lambda d: documents.write(d / "junk.msg", b"not an OLE file"), CorruptInput, "Outlook"),
        (lambda d: documents.write(d / "latin.txt", "café".encode("latin-1")), EncodingError, "UTF-8"),
    ],
)
def test_bad_input_raises_a_specific_error(tmp_path: Path, make, error, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=f"(?i){message}"):
        parse_file(make(tmp_path))


def test_limits(tmp_path: Path) -> None:
    path = documents.invoice(tmp_path)
    with pytest.raises(TooLarge, match="pages"):
        parse_file(path, ParseLimits(max_pages=1))
    with pytest.raises(TooLarge, match="bytes"):
        parse_file(path, ParseLimits(max_file_bytes=100))


def test_attachment_depth_limit_is_recorded_not_silent(tmp_path: Path) -> None:
    doc = parse_file(documents.email_with_pdf(tmp_path), ParseLimits(max_attachment_depth=0))
    assert doc.metadata["attachments"] == ["etc_invoice T-1001.pdf"]  # listed, though not read
    assert "nested deeper" in doc.metadata["skipped_attachments"][0]


def test_pdf_table_cells_read_whole_in_the_header_row_too(tmp_path: Path) -> None:
    """PyMuPDF's own table markdown reads the first row through `Table.extract`, which drops spaces
    and moves separators ("1,008.73 USD" -> "100873USD<br>, ."); every row is read alike here,
    ligatures expanded."""
    from extractor.synth.render import html_pdf

    rows = "".join(
        f"<tr><td>{a}</td><td>{b}</td></tr>"
        for a, b in (("Subtotal", "1,008.73 USD"), ("VAT", "100.87 USD"), ("O\ufb03ce chair", "2 x 54.10"))
    )
    head = '<table class="lines"><tr><td>Unit price</td><td>Amount due</td></tr>' + rows + "</table>"
    path = documents.write(tmp_path / "totals.pdf", html_pdf([head]))
    text = parse_file(path).text
    assert "|Unit price|Amount due|\n|---|---|\n|Subtotal|1,008.73 USD|\n|VAT|100.87 USD|" in text
    assert "|Office chair|2 x 54.10|" in text
