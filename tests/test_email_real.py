"""E-mails as real mailers write them: inline images of every kind, unnamed parts, MIME entities
without envelope headers, lying and unknown charsets, raw 8-bit and encoded-word headers, Outlook
.msg files in legacy code pages, malformed envelopes. Each hostile case is built here in code;
the last tests run every real e-mail of the corpus in data/real/ (when it is present)."""

from __future__ import annotations

import base64
import re
from email.message import EmailMessage
from pathlib import Path

import pytest

from extractor.errors import CorruptInput, InputError
from extractor.parse import image, ocr, parse_file
from extractor.parse.ocr import OcrText
from tests import documents
from tests.real_corpus import corpus_files, requires_corpus
from tests.test_image_parse import picture

REAL = Path(__file__).resolve().parent.parent / "data" / "real"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _mail(tmp_path: Path, data: bytes, name: str = "mail.eml") -> Path:
    return documents.write(tmp_path / name, data)


def _headers(**extra: str) -> bytes:
    fields = {"From": "a@example.org", "To": "b@example.org", "Subject": "test"} | extra
    return "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in fields.items()).encode()


def _ocr_recorder(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Replace Tesseract: record each PNG it would read, read no text (as on a logo)."""
    seen: list[bytes] = []
    monkeypatch.setattr(image, "read_image", lambda png, limits, what: seen.append(png) or OcrText("", None, 0))
    return seen


def _related_mail() -> bytes:
    """HTML with the images of a real newsletter: paletted PNG, RGBA logo, CMYK photo, spacer, broken."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "shop@example.org", "ann@example.org", "Your order"
    msg.set_content("Order ORD-5 has shipped.")
    msg.add_alternative("<p>Order <b>ORD-5</b> has shipped.</p><img src='cid:redball'>", subtype="html")
    html = msg.get_payload()[1]
    for name, data in [
        ("redball.png", picture("P", "PNG")),
        ("logo.png", picture("RGBA", "PNG")),
        ("photo.jpg", picture("CMYK", "JPEG")),
        ("spacer.gif", picture("P", "GIF", (1, 1))),
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
    ]:
        maintype, subtype = "image", {"png": "png", "jpg": "jpeg", "gif": "gif"}[name.rsplit(".", 1)[1]]
        html.add_related(data, maintype, subtype, cid=f"<{name}>", filename=name, disposition="inline")
    return msg.as_bytes()


def test_inline_images_never_fail_the_email(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: `Exception: Unrecognised args for constructing Pixmap` (and inline parts unlisted)."""
    import pymupdf

    seen = _ocr_recorder(monkeypatch)
    doc = parse_file(_mail(tmp_path, _related_mail()))
    assert "ORD-5" in doc.text
    assert doc.metadata["attachments"] == ["redball.png", "logo.png", "photo.jpg", "spacer.gif", "broken.png"]
    skipped = dict(note.split(": ", 1) for note in doc.metadata["skipped_attachments"])
    assert "too small" in skipped["spacer.gif"] and skipped["broken.png"].startswith("CorruptInput")
    assert skipped["redball.png"] == skipped["logo.png"] == skipped["photo.jpg"] == "no text"
    assert [pymupdf.Pixmap(png).n for png in seen] == [1, 1, 1]  # paletted, RGBA and CMYK: all read as grey


def test_without_tesseract_an_image_is_a_note_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocr, "binary", lambda: None)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@x.org", "b@x.org", "scan"
    msg.set_content("See the photo.")
    msg.add_attachment(picture("RGB", "JPEG"), maintype="image", subtype="jpeg", filename="photo.jpg")
    doc = parse_file(_mail(tmp_path, msg.as_bytes()))
    assert "See the photo." in doc.text
    assert doc.metadata["skipped_attachments"] == ["photo.jpg: not OCRed: Tesseract is not installed"]


def test_every_named_part_is_listed_and_unnamed_parts_are_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ocr_recorder(monkeypatch)
    inner = EmailMessage()
    inner["From"], inner["Subject"] = "c@example.org", "forwarded"
    inner.set_content("Inner text INV-3.")
    inner.add_attachment(b"sku,qty\nA1,2\n", maintype="text", subtype="csv", filename="lines.csv")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.org", "b@example.org", "parts"
    msg.set_content("Outer text.")
    msg.add_alternative("<p>Outer text.</p>", subtype="html")
    msg.get_payload()[1].add_related(picture("P", "PNG"), "image", "png", cid="<rb>", filename="redball.png")
    msg.add_attachment(b"notes", maintype="text", subtype="plain", filename="../notes.txt")
    msg.add_attachment(inner, filename="fwd.eml")
    msg.add_attachment(b"\x00\x01binary", maintype="application", subtype="octet-stream")  # no name
    msg.add_attachment(picture("RGB", "PNG"), maintype="image", subtype="png", disposition="inline")  # no name
    doc = parse_file(_mail(tmp_path, msg.as_bytes()))
    assert doc.metadata["attachments"] == ["redball.png", "notes.txt", "fwd.eml", "fwd.eml/lines.csv"]
    assert doc.metadata["unnamed_parts"] == 2
    assert "unnamed part 1: unsupported type application/octet-stream" in doc.metadata["skipped_attachments"]
    assert "INV-3" in doc.text and "A1,2" in doc.text


def test_a_mime_entity_without_envelope_headers_is_read(tmp_path: Path) -> None:
    """Before: CorruptInput 'no From, To, Subject or Date header'."""
    data = (
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: text/plain\r\n\r\nInvoice INV-7, total 12.50\r\n"
        b"--XX\r\nContent-Type: text/plain; name=terms.txt\r\n\r\nPay within 30 days\r\n--XX--\r\n"
    )
    doc = parse_file(_mail(tmp_path, data))
    assert "INV-7" in doc.text and "Pay within 30 days" in doc.text
    assert doc.metadata["attachments"] == ["terms.txt"] and "from" not in doc.metadata


@pytest.mark.parametrize("data", [b"\x00\x01\x02 no headers at all", b"Dear all,\n\nno headers here.\n"])
def test_a_file_with_no_header_at_all_is_corrupt(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(CorruptInput, match="not an email"):
        parse_file(_mail(tmp_path, data))


@pytest.mark.parametrize(
    ("label", "body", "expected", "note"),
    [
        ("utf-8", "Un café crème, s'il vous plaît.".encode("latin-1"), "café crème", "guessed cp1252"),
        ("gb2312", "朱镕基说：价格五元。".encode("gb18030"), "朱镕基", "read as gb18030"),
        ("ks_c_5601-1987", "똠방각하 안녕하세요".encode("cp949"), "똠방각하", "read as cp949"),
        ("shift_jis", "①番の髙橋です".encode("cp932"), "①番の髙橋", "read as cp932"),
        ("iso-2022-jp", "お世話になっております。".encode("cp932"), "お世話に", "read as cp932"),
        ("iso-8859-1", "\x93Quoted\x94 costs \x80 5".encode("latin-1"), "“Quoted” costs € 5", "read as cp1252"),
        ("us-ascii", "naïve café".encode(), "naïve café", "read as utf-8"),
        ("utf-8", "Grüße aus München – ".encode() * 5 + b"\xff Ende", "München", "1 byte(s) not valid utf-8"),
        ("x-no-such", b"plain body", "plain body", "unknown charset 'x-no-such'"),
        ("undefined", b"plain body", "plain body", "unknown charset"),  # before: a raw UnicodeError
        ("base64", b"aGVsbG8=", "aGVsbG8=", "unknown charset"),  # a codec, but not a charset
        ("utf-7", b"Hi Mom -+Jjo--!", "Hi Mom -\u263a-!", ""),
    ],
)
def test_body_charsets_are_read_not_refused(tmp_path: Path, label: str, body: bytes, expected: str, note: str) -> None:
    """Before: EncodingError 'email body is not valid ...' (or a raw UnicodeError) for all but utf-7."""
    data = _headers() + f"Content-Type: text/plain; charset={label}\r\n".encode()
    doc = parse_file(_mail(tmp_path, data + b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body + b"\r\n"))
    assert expected in doc.text
    assert note in " ".join(doc.metadata.get("charset_notes", [])) if note else "charset_notes" not in doc.metadata


def _word(charset: str, data: bytes) -> str:
    return f"=?{charset}?B?{base64.b64encode(data).decode()}?="


def test_encoded_word_headers_in_any_charset(tmp_path: Path) -> None:
    """The To name has "€" split across two encoded words, as mailers that cut at a byte count do."""
    data = _headers(
        Subject=_word("gb2312", "镕基价格".encode("gb18030")),  # GBK bytes under a gb2312 label
        From="=?utf-8?Q?Doe=2C_Jane?= <jane@example.org>",  # an encoded comma stays in the name
        To=_word("utf-8", "Price €".encode()[:-1]) + " " + _word("utf-8", "€ 5".encode()[2:]) + " <p@example.org>",
        Cc="=?x-unknown?Q?caf=E9?= <c@example.org>, =?utf-7?Q?Hi_Mom_-+Jjo--!?= <m@example.org>",
        Reply_To=f"{_word('ks_c_5601-1987', '똠방'.encode('cp949'))} <r@example.org>",
    )
    doc = parse_file(_mail(tmp_path, data + b"\r\nbody\r\n"))
    meta = doc.metadata
    assert meta["subject"] == "镕基价格" and "Subject: 镕基价格" in doc.text
    assert (meta["from_addresses"], meta["from_names"]) == (["jane@example.org"], ["Doe, Jane"])
    assert meta["to_names"] == ["Price € 5"]
    assert meta["cc_addresses"] == ["c@example.org", "m@example.org"] and meta["cc_names"][1] == "Hi Mom -\u263a-!"
    assert meta["cc_names"][0].startswith("caf") and meta["reply_to_names"] == ["똠방"]
    assert not _LONE_SURROGATE.search(str(meta))


def test_raw_8bit_headers_are_decoded(tmp_path: Path) -> None:
    """Raw UTF-8 (RFC 6532), and a legacy charset read with the one the message declares."""
    data = (
        b"From: J\xc3\xbcrgen M\xc3\xbcller <j@example.org>\r\nTo: b@example.org\r\n"
        b"Subject: Caf\xe9 cr\xe8me\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nCaf\xe9\r\n"
    )
    meta = parse_file(_mail(tmp_path, data)).metadata
    assert meta["from_names"] == ["Jürgen Müller"] and meta["subject"] == "Café crème"
    assert "read as iso8859-1, the message's charset" in " ".join(meta["charset_notes"])


def test_the_envelope_a_user_expects(tmp_path: Path) -> None:
    data = _headers(
        From="Ann Lee <ann@example.org>",
        To="a@example.org, Bob Roe <b@example.org>",
        Cc="undisclosed-recipients:;",
        Reply_To="Help Desk <help@example.org>",
        Date="Tue, 5 Mar 2024 09:30:00 +0100",
        Message_ID="<abc.123@example.org>",
    )
    meta = parse_file(_mail(tmp_path, data + b"\r\nbody\r\n")).metadata
    assert meta["from"] == "Ann Lee <ann@example.org>"
    assert (meta["from_addresses"], meta["from_names"]) == (["ann@example.org"], ["Ann Lee"])
    assert (meta["to_addresses"], meta["to_names"]) == (["a@example.org", "b@example.org"], ["", "Bob Roe"])
    assert meta["cc_addresses"] == [] and (meta["reply_to_addresses"], meta["reply_to_names"]) == (
        ["help@example.org"],
        ["Help Desk"],
    )
    assert meta["date_iso"] == "2024-03-05T09:30:00+01:00" and meta["message_id"] == "abc.123@example.org"
    assert "header_notes" not in meta


def test_malformed_headers_never_raise(tmp_path: Path) -> None:
    data = _headers(To="<<>> ;; @@@", Date="32 Foo 2024 99:99", Subject="=?utf-8?B?###?= still here")
    doc = parse_file(_mail(tmp_path, data + b"\r\nbody\r\n"))
    meta = doc.metadata
    assert "date_iso" not in meta and "to_addresses" not in meta and meta["date"] == "32 Foo 2024 99:99"
    notes = " ".join(meta["header_notes"])
    assert "is not a date" in notes and "holds no address" in notes
    assert meta["subject"].endswith("still here")


def test_a_whole_message_saved_as_utf16_is_read(tmp_path: Path) -> None:
    """Before: CorruptInput (the parser saw NUL bytes, not headers)."""
    data = "From: a@example.org\r\nSubject: Grüße\r\n\r\nBody ü\r\n".encode("utf-16")
    doc = parse_file(_mail(tmp_path, data))
    assert doc.metadata["subject"] == "Grüße" and "Body ü" in doc.text


def _storage(path: str, streams: dict[str, bytes], storages: tuple = ()):  # type: ignore[no-untyped-def]
    from oxmsg.storage import Storage, Stream

    return Storage(path, tuple(Stream(f"{path}/{n}" if path else n, b) for n, b in streams.items()), storages)


def _props(header_bytes: int, *entries: tuple[int, int, int]) -> bytes:
    """A `__properties_version1.0` stream: header, then (type, id, 32-bit value) entries."""
    import struct

    return bytes(header_bytes) + b"".join(struct.pack("<HHIQ", typ, pid, 6, value) for typ, pid, value in entries)


def test_an_outlook_message_in_cp932_under_the_iso_2022_jp_code_page() -> None:
    """Outlook on Japanese Windows: 8-bit strings in cp932, internet code page 50220 (iso-2022-jp).
    Before (python-oxmsg decoding): UnicodeDecodeError: 'iso2022_jp' codec can't decode byte 0x93."""
    from extractor.parse.outlook import read_storage

    recipient = _storage(
        "__recip_version1.0_#00000000",
        {
            "__properties_version1.0": _props(8, (0x0003, 0x0C15, 1)),
            "__substg1.0_3001001E": "山田太郎".encode("cp932"),
            "__substg1.0_39FE001E": b"taro@example.jp",
        },
    )
    attachment = _storage(
        "__attach_version1.0_#00000000",
        {
            "__properties_version1.0": _props(8, (0x0003, 0x3705, 1)),
            "__substg1.0_3707001E": "請求書.txt".encode("cp932"),
            "__substg1.0_37010102": "合計 1,200円".encode("cp932"),
        },
    )
    root = _storage(
        "",
        {
            "__properties_version1.0": _props(32, (0x0003, 0x3FFD, 932), (0x0003, 0x3FDE, 50220)),
            "__substg1.0_0037001E": "請求書の送付".encode("cp932"),
            "__substg1.0_1000001E": "“お世話になっております。”\r\n".encode("cp932") + b"\x00",
        },
        (recipient, attachment),
    )
    notes: list[str] = []
    msg = read_storage(root, notes, max_depth=3)
    assert msg.body.startswith("“お世話になっております。”")
    assert ("Subject", "請求書の送付") in msg.headers and ("To", "=?utf-8?b?5bGx55Sw5aSq6YOO?= <taro@example.jp>") in (
        msg.headers
    )
    assert [a.name for a in msg.attachments] == ["請求書.txt"]
    assert any("declared iso2022_jp, read as cp932" in note for note in notes)


@requires_corpus
@pytest.mark.parametrize("kind", ["email", "msg"])
def test_every_real_email_is_a_document_or_a_typed_input_error(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never an untyped exception, never a lone surrogate (Parquet cannot store one)."""
    _ocr_recorder(monkeypatch)
    paths, parsed = corpus_files(kind), 0
    assert paths
    for path in paths:
        try:
            doc = parse_file(path)
        except InputError:
            continue
        parsed += 1
        assert not _LONE_SURROGATE.search(doc.text + str(doc.metadata)), path
    assert parsed >= 0.95 * len(paths)


@pytest.mark.skipif(not (REAL / "msg/tika/testMSG_chinese.msg").exists(), reason="the real corpus is not present")
def test_a_real_msg_in_the_big5_code_page() -> None:
    """Code page 950: python-oxmsg asked Python for 'windows-950' and raised LookupError."""
    doc = parse_file(REAL / "msg/tika/testMSG_chinese.msg")
    assert doc.metadata["subject"] == "Alfresco MSG format testing ( MSG 格式測試 )" and "中文測試" in doc.text
