"""The review page: evidence highlighted in each document's text, values with confidence, filters;
hostile document text stays text; and it renders in a real headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from extractor.config import RunConfig
from extractor.engines.fake import FakeEngine
from extractor.pipeline import run_incremental
from extractor.review import collect, render, write
from extractor.schema import load_schema
from tests import documents

ANSWER = {
    "invoice_number": "T-1001",
    "issuer": "Test Supplies Ltd",
    "recipient": "Example Corp",
    "invoice_date": "2024-05-02",
    "due_date": "2024-06-01",
    "currency": "EUR",
    "subtotal": "22.50",
    "tax": "4.28",
    "total": "26.78",
    "line_items": [],
}
HOSTILE = (
    "INVOICE T-1001 from Test Supplies Ltd <script>document.title='pwned'</script>\n"
    '<img src="http://evil.example/x.png" onerror="alert(1)"> total 26.78 EUR, to Example Corp\n'
)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    inputs = tmp_path / "in"
    documents.invoice(inputs)
    documents.write(inputs / "hostile.txt", HOSTILE.encode())
    made_up = {**ANSWER, "issuer": "Nobody Of That Name GmbH"}
    answers = iter([json.dumps(ANSWER), json.dumps(made_up)])
    engine = FakeEngine(respond=lambda prompt: next(answers))
    config = RunConfig(decoding="json", min_confidence=0.5, parse_workers=0)
    run_incremental([inputs], tmp_path / "out", load_schema("invoice"), engine, config)
    return tmp_path / "out"


def test_page_marks_evidence_and_flags_values_not_in_the_text(out: Path) -> None:
    docs = {Path(d.source).name: d for d in collect(out)}
    assert set(docs) == {"invoice.pdf", "hostile.txt"}
    page = render(docs.values())
    assert page.count('<mark class="ev') >= 8  # number, parties, dates, amounts of two documents
    assert 'data-flagged="1"' in page  # the document whose issuer is nowhere in its text
    assert "NOT FOUND" in page and "Nobody Of That Name GmbH" in page
    # hostile text is shown as text: no element, no fetch, no handler comes from it
    assert "<script>document.title" not in page and "&lt;script&gt;document.title" in page
    assert "<img" not in page and "http://evil.example" in page.replace("&quot;", '"')
    assert "default-src 'none'" in page  # and the page itself forbids fetching anything


def test_read_review_returns_the_flagged_rows(out: Path) -> None:
    from extractor.api import read

    flagged = read(out, "invoice", review=True)
    assert len(read(out, "invoice")) == 2
    assert len(flagged) >= 1  # the made-up issuer, at least; FakeEngine reports no confidence
    reasons = [r for rs in flagged["_review"] for r in rs]
    assert any(r.startswith("issuer: not found") for r in reasons)


def test_review_cli_writes_the_page(out: Path) -> None:
    from typer.testing import CliRunner

    from extractor.cli import app

    result = CliRunner().invoke(app, ["review", str(out), "--html", str(out / "r.html")])
    assert result.exit_code == 0, result.output
    assert (out / "r.html").read_text().count("<section") == 2


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None and os.environ.get("CI"):
        pytest.fail("CI must test the review page in Chromium: make setup installs Debian's chromium package")
    return found


def test_review_page_renders_highlights_in_headless_chromium(out: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (make setup installs it)")
    from PIL import Image

    page = write(out, tmp_path / "review.html")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    profile = f"--user-data-dir={tmp_path / 'profile'}"
    shot = tmp_path / "shot.png"
    subprocess.run(
        [chromium, *flags, profile, "--window-size=1400,1800", f"--screenshot={shot}", page.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    dom = subprocess.run(
        [chromium, *flags, profile, "--dump-dom", page.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
        text=True,
    ).stdout
    assert dom.count('<mark class="ev') >= 8 and "pwned" not in dom.split("<title>")[1].split("</title>")[0]
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    counts = {rgb: n for n, rgb in colours}
    # the first fields' highlight colours (.f0 #ffd54f, .f1 #81d4fa) cover visible areas of the page
    assert counts.get((0xFF, 0xD5, 0x4F), 0) > 200, "no field-0 highlight in the screenshot"
    assert counts.get((0x81, 0xD4, 0xFA), 0) > 200, "no field-1 highlight in the screenshot"
