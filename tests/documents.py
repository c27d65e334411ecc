"""Test documents made by code, each next to the values it holds."""

from __future__ import annotations

from pathlib import Path

from extractor.samples import InvoiceSpec, email_message, html_pdf, invoice_pdf

INVOICE = InvoiceSpec(
    invoice_number="T-1001",
    issuer="Test Supplies Ltd",
    issuer_address="1 Test Lane, Testville",
    recipient="Example Corp",
    recipient_address="2 Sample Road, Exampletown",
    invoice_date="2024-05-02",
    due_date="2024-06-01",
    currency="EUR",
    lines=[("Blue pens, box of 10", "3", "4.20", "12.60"), ("Stapler", "1", "9.90", "9.90")],
    subtotal="22.50",
    tax="4.28",
    total="26.78",
    extra_pages=["<h2>Terms</h2><p>Payment within 30 days. Late fee 2% per month.</p>"],
)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def invoice(tmp: Path, name: str = "invoice.pdf") -> Path:
    return write(tmp / name, invoice_pdf(INVOICE))


def email_with_pdf(tmp: Path, name: str = "mail.eml") -> Path:
    return write(
        tmp / name,
        email_message(
            "Billing <billing@test.example>",
            "ap@example.example",
            "Your invoice T-1001",
            "Dear customer,\nplease find our invoice attached.\n",
            attachments=[("../../etc/invoice T-1001.pdf", "application/pdf", invoice_pdf(INVOICE))],
        ),
    )


def html_only_email(tmp: Path, name: str = "html.eml") -> Path:
    return write(
        tmp / name,
        email_message(
            "Ann Lee <ann@example.org>",
            "support@shop.example",
            "Broken mug",
            "",
            html_only=True,
            html_body="<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
            "<p>My mug from order <b>ORD-77</b> arrived broken.</p>"
            "<table><tr><td>Item</td><td>Qty</td></tr><tr><td>Mug</td><td>2</td></tr></table>"
            "<img src='http://tracker.example/pixel.gif'></body></html>",
        ),
    )


def encrypted_pdf(tmp: Path, name: str = "secret.pdf") -> Path:
    import pymupdf

    doc = pymupdf.open(stream=html_pdf(["<p>secret</p>"]), filetype="pdf")
    return write(tmp / name, doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="o", user_pw="u"))


def non_utf8_email(tmp: Path, name: str = "latin.eml") -> Path:
    # Declares UTF-8 but carries Latin-1 bytes: the body cannot be decoded as declared.
    return write(
        tmp / name,
        b"From: a@example.org\r\nTo: b@example.org\r\nSubject: Caf\xe9\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"Un caf\xe9 cr\xe8me, s'il vous pla\xeet.\r\n",
    )
