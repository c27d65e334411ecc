"""Turn HTML into PDF pages (PyMuPDF's Story engine) and parts into RFC 5322 emails (stdlib).

Deterministic: the same input gives the same bytes, so generated documents keep their doc_id.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

BASE_CSS = """
body { font-family: sans-serif; font-size: 10pt; }
h1 { font-size: 18pt; margin-bottom: 4pt; }
table.lines { border-collapse: collapse; width: 100%; margin-top: 14pt; margin-bottom: 14pt; }
p { margin-top: 6pt; margin-bottom: 6pt; }
table.lines td, table.lines th { border: 1px solid #444; padding: 3pt; }
.right { text-align: right; }
"""


def html_pdf(pages_html: list[str], title: str = "", css: str = "") -> bytes:
    """Render each HTML string onto its own A4 page (overflowing onto more pages) and return PDF bytes."""
    import io

    import pymupdf

    buffer = io.BytesIO()
    writer = pymupdf.DocumentWriter(buffer)
    mediabox = pymupdf.paper_rect("a4")
    where = mediabox + (50, 50, -50, -50)
    for page_html in pages_html:
        story = pymupdf.Story(html=page_html, user_css=BASE_CSS + css)
        more = True
        while more:
            device = writer.begin_page(mediabox)
            more, _ = story.place(where)
            story.draw(device)
            writer.end_page()
    writer.close()
    doc = pymupdf.open(stream=buffer.getvalue(), filetype="pdf")
    # Fixed dates and no fresh file ID, so the same input gives the same bytes (and doc_id).
    doc.set_metadata(
        {
            "title": title,
            "producer": "extractor samples",
            "creationDate": "D:20240101000000Z",
            "modDate": "D:20240101000000Z",
        }
    )
    return doc.tobytes(garbage=3, deflate=True, no_new_id=True)


def email_message(
    sender: str,
    to: str,
    subject: str,
    body: str,
    *,
    html_body: str | None = None,
    html_only: bool = False,
    cc: str | None = None,
    date: datetime | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
    message_id: str | None = None,
) -> bytes:
    """An RFC 5322 message. `attachments` are (filename, mime type, bytes)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime(2024, 3, 4, 9, 30, tzinfo=UTC))
    digest = hashlib.sha256("\0".join([sender, to, subject, body, html_body or ""]).encode()).hexdigest()
    msg["Message-ID"] = message_id or f"<{digest[:24]}@example.com>"
    if html_only:
        msg.set_content(html_body or body, subtype="html")
    else:
        msg.set_content(body)
        if html_body:
            msg.add_alternative(html_body, subtype="html")
    for filename, mime, data in attachments or []:
        maintype, subtype = mime.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    for number, part in enumerate(msg.walk()):
        if part.is_multipart():  # the stdlib picks random boundaries; fixed ones keep the bytes stable
            part.set_boundary(f"=={digest[:16]}.{number}==")
    return msg.as_bytes()
