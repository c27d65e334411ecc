"""The label editor page: values most doubtful first, corrected with the keyboard or from a span
selected in the document text, refused when the schema refuses them, saved as a file that
`import_corrections` merges; hostile document text stays text. The browser tests drive a real
headless Chromium through Playwright."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pydantic
import pytest
from pydantic import BaseModel, ConfigDict, Field

from extractor.labels.editor import left_to_review, page_schema, render_editor, review_queue, write_editor
from extractor.labels.store import Label, import_corrections, read_labels, write_labels, write_text
from extractor.schema import load_schema

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
needs_browser = pytest.mark.skipif(
    importlib.util.find_spec("playwright") is None or not CHROMIUM.is_file(),
    reason="needs playwright (pip install -e '.[dev]') and Chromium at /usr/bin/chromium (make setup installs it)",
)


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = Field(max_length=30)
    amount: Decimal | None = Field(None, ge=0, max_digits=8, decimal_places=2)


class Receipt(BaseModel):
    """A shop receipt."""

    model_config = ConfigDict(extra="forbid")
    merchant: str | None = Field(None, max_length=30)
    paid_on: dt.date | None = None
    total: Decimal | None = Field(None, ge=0, max_digits=8, decimal_places=2)
    currency: Literal["EUR", "USD", "GBP"] | None = None
    lines: list[Line] = Field(default_factory=list, max_length=3)


SCHEMA = load_schema(Receipt)
HOSTILE = (
    "Corner Shop</script><script>window.__pwned=1</script>\n"
    '<img src=x onerror="window.__pwned=2">\n'
    "Paid 2024-03-01  Total 12.50 EUR\n"
)
ACME = "ACME Trading Ltd\nInvoice date 2024-05-02\nWidget 2 x 4.50 = 9.00\nTotal due: 99.00 USD\n"
CAFE = "Café Zoë ☕ 🍰\nDate: 2024-06-07\nTOTAL 7,80 EUR\n"  # 🍰 is two UTF-16 units: offsets after it shift
IDS = {"a": "a" * 64, "b": "b" * 64, "c": "c" * 64}
# The queue the labels below make: not found first, then by confidence, then no confidence.
ORDER = [
    ("b", "merchant"),  # not found in the text
    ("c", "total"),  # 0.45
    ("b", "total"),  # 0.52
    ("c", "paid_on"),  # 0.6
    ("b", "lines"),  # 0.7 (its least sure value)
    ("c", "merchant"),  # 0.88
    ("b", "paid_on"),  # 0.9, before c's 0.9 by file
    ("c", "currency"),
    ("a", "paid_on"),
    ("b", "currency"),
    ("a", "total"),
    ("a", "merchant"),
    ("a", "currency"),
    ("a", "lines"),  # no confidence
    ("c", "lines"),
]


def _evidence(text: str, field: str, found: str | None, confidence: float | None, match: str = "exact") -> dict:
    start = text.index(found) if found is not None else -1
    end = start + len(found) if found is not None else -1
    grounded = found is not None
    return {
        "field": field,
        "start": start,
        "end": end,
        "confidence": confidence,
        "grounded": grounded,
        "match": match if grounded else "",
        "page": None,
    }


def _label(key: str, fields: dict[str, Any], evidence: list[dict]) -> Label:
    confidence: dict[str, float | None] = {}
    for e in evidence:  # as the teacher writes it: per top-level field, its least sure value
        top = e["field"].split("[")[0]
        known = [c for c in (confidence.get(top), e["confidence"]) if c is not None]
        confidence[top] = min(known) if known else None
    name = {"a": "a-hostile.txt", "b": "b-acme.txt", "c": "c-cafe.txt"}[key]
    return Label(
        file=f"inbox/{name}",
        doc_id=IDS[key],
        schema=SCHEMA.name,
        schema_fingerprint=SCHEMA.fingerprint,
        fields=Receipt.model_validate(fields).model_dump(mode="json"),
        confidence=confidence,
        evidence=evidence,
        teacher="teacher-7b",
        cluster=f"cluster {key}",
        labelled_at="2026-01-02T03:04:05+00:00",
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "labels"
    a = _label(
        "a",
        {"merchant": "Corner Shop", "paid_on": "2024-03-01", "total": "12.50", "currency": "EUR"},
        [
            _evidence(HOSTILE, "merchant", "Corner Shop", 0.97),
            _evidence(HOSTILE, "paid_on", "2024-03-01", 0.93),
            _evidence(HOSTILE, "total", "12.50", 0.96),
            _evidence(HOSTILE, "currency", "EUR", 0.99),
        ],
    )
    b = _label(
        "b",
        {
            "merchant": "ACME Tradng",
            "paid_on": "2024-05-02",
            "total": "90.00",
            "currency": "USD",
            "lines": [{"description": "Widget", "amount": "9.00"}],
        },
        [
            _evidence(ACME, "merchant", None, 0.35),
            _evidence(ACME, "paid_on", "2024-05-02", 0.9),
            _evidence(ACME, "total", "99.00", 0.52, "fuzzy"),
            _evidence(ACME, "currency", "USD", 0.95),
            _evidence(ACME, "lines[0].description", "Widget", 0.8),
            _evidence(ACME, "lines[0].amount", "9.00", 0.7),
        ],
    )
    c = _label(
        "c",
        {"merchant": "Café Zoë", "paid_on": "2024-06-07", "total": "7.80", "currency": "EUR"},
        [
            _evidence(CAFE, "merchant", "Café Zoë", 0.88),
            _evidence(CAFE, "paid_on", "2024-06-07", 0.6),
            _evidence(CAFE, "total", "7,80", 0.45, "normalised"),
            _evidence(CAFE, "currency", "EUR", 0.9),
        ],
    )
    write_labels(folder, [c, a, b])
    for key, text in (("a", HOSTILE), ("b", ACME), ("c", CAFE)):
        write_text(folder, IDS[key], text)
    return folder


def _embedded(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    assert match is not None
    return json.loads(match.group(1))


def test_page_is_self_contained_and_hostile_text_stays_data(folder: Path) -> None:
    page = render_editor(folder, SCHEMA, reviewer="Ada")
    assert "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'" in page
    assert re.search(r"https?://", page) is None  # no CDN, no font, nothing to fetch
    assert page.count("<script") == 2 and page.count("</script>") == 2  # the data and the code, no more
    assert "window.__pwned" in page and "<script>window.__pwned" not in page and "<img" not in page
    data = _embedded(page)
    texts = {d["doc_id"]: d["text"] for d in data["docs"]}
    assert texts[IDS["a"]] == HOSTILE and texts[IDS["c"]] == CAFE  # escaped, not altered
    assert data["reviewer"] == "Ada"
    names = {d["doc_id"]: k for k, d in zip("abc", data["docs"], strict=True)}
    assert [(names[data["docs"][i["doc"]]["doc_id"]], i["field"]) for i in data["items"]] == ORDER
    # offsets in UTF-16 units: the page's 7,80 starts one unit later than Python's index (after 🍰)
    cafe = next(d for d in data["docs"] if d["doc_id"] == IDS["c"])
    total = next(s for s in cafe["spans"] if s["field"] == "total")
    assert total["start"] == CAFE.index("7,80") + 1


def test_queue_and_left_to_review(folder: Path) -> None:
    labels = list(read_labels(folder, SCHEMA).values())
    queue = review_queue(labels, SCHEMA)
    assert queue[0]["field"] == "merchant" and queue[0]["grounded"] is False
    assert [q["confidence"] for q in queue[1:4]] == [0.45, 0.52, 0.6]
    assert left_to_review(folder) == 15 and left_to_review(folder, SCHEMA) == 15
    reviewed = dataclasses.replace(labels[0], reviewed=True)
    write_labels(folder, [reviewed, *labels[1:]])
    assert left_to_review(folder) == 10
    # a reviewed label's values come last, already done
    assert {q["doc"] for q in review_queue([reviewed, *labels[1:]], SCHEMA)[-5:]} == {0}


def test_page_schema_marks_decimals_with_their_limits() -> None:
    tree = page_schema(SCHEMA)
    total = tree["properties"]["total"]["anyOf"]
    string = next(b for b in total if b.get("type") == "string")
    assert string["x-decimal"] == {"maxDigits": 8, "decimalPlaces": 2} and string["minimum"] == 0
    amount = next(b for b in tree["$defs"]["Line"]["properties"]["amount"]["anyOf"] if b.get("type") == "string")
    assert amount["x-decimal"]["decimalPlaces"] == 2 and amount["minimum"] == 0
    assert SCHEMA.model.model_json_schema() != tree  # the model's own schema is left as it was


# -- in the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def editor(browser: Browser, folder: Path) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(write_editor(folder, SCHEMA, reviewer="Ada").as_uri())
    yield page
    context.close()
    assert errors == []  # no script error, no CSP violation


def _at(page: Page) -> tuple[str, str, str]:
    """The document, field and state of the value shown."""
    card = page.locator("#card")
    doc, field, state = (card.get_attribute(f"data-{name}") or "" for name in ("doc", "field", "state"))
    return doc, field, state


def _select_with_mouse(page: Page, needle: str) -> None:
    box = page.evaluate(
        """needle => {
          const walker = document.createTreeWalker(document.getElementById("text"), NodeFilter.SHOW_TEXT);
          for (let node; (node = walker.nextNode());) {
            const i = node.data.indexOf(needle);
            if (i < 0) continue;
            const range = document.createRange();
            range.setStart(node, i); range.setEnd(node, i + needle.length);
            const rects = range.getClientRects(), a = rects[0], b = rects[rects.length - 1];
            return {x0: a.left, y0: a.top + a.height / 2, x1: b.right, y1: b.top + b.height / 2};
          }
          return null;
        }""",
        needle,
    )
    assert box is not None, f"{needle!r} is not in the shown text"
    page.mouse.move(box["x0"] + 1, box["y0"])
    page.mouse.down()
    page.mouse.move(box["x1"] - 1, box["y1"], steps=5)
    page.mouse.up()
    assert page.evaluate("getSelection().toString()") == needle


@needs_browser
def test_review_with_the_keyboard_save_and_import(editor: Page, folder: Path, tmp_path: Path) -> None:
    page = editor
    counter = page.locator("#counter")
    assert counter.inner_text() == "15 of 15 values left · 3 of 3 documents to review"
    assert page.locator("#reviewer").input_value() == "Ada"
    # the most doubtful value first: a merchant the teacher wrote that is nowhere in the text
    assert _at(page) == ("inbox/b-acme.txt", "merchant", "open")
    assert "NOT FOUND" in page.locator("#found").inner_text()

    # fill it from a span selected with the mouse, then keep it
    _select_with_mouse(page, "ACME Trading Ltd")
    page.keyboard.press("s")
    assert page.locator("#input").input_value() == "ACME Trading Ltd"
    page.keyboard.press("Enter")
    assert counter.inner_text().startswith("14 of 15")

    # next doubt: its evidence is highlighted (offsets after an emoji) and accepted as it is
    assert _at(page) == ("inbox/c-cafe.txt", "total", "open")
    assert page.locator("#text mark.cur").all_inner_texts() == ["7,80"]
    page.keyboard.press("a")
    assert counter.inner_text().startswith("13 of 15")

    # fix a wrong total: values the schema refuses are refused with the reason
    assert _at(page) == ("inbox/b-acme.txt", "total", "open")
    page.keyboard.press("f")
    assert page.locator("#input").input_value() == "90.00"
    refused = {
        "abc": "total: must be a number",
        "-1": "total: must be ≥ 0",
        "99.001": "total: at most 2 decimal places",
    }
    for typed, reason in refused.items():
        page.keyboard.press("Control+a")
        page.keyboard.type(typed)
        page.keyboard.press("Enter")
        assert page.locator("#error").inner_text() == reason
        assert _at(page)[2] == "open" and counter.inner_text().startswith("13 of 15")
    page.keyboard.press("Control+a")
    page.keyboard.type("99.00")
    page.keyboard.press("Enter")
    assert page.locator("#error").inner_text() == ""
    assert counter.inner_text().startswith("12 of 15")

    # clear one to null; accept the rest of a document at once
    assert _at(page) == ("inbox/c-cafe.txt", "paid_on", "open")
    page.keyboard.press("x")
    assert _at(page) == ("inbox/b-acme.txt", "lines", "open")
    page.keyboard.press("D")
    assert counter.inner_text() == "8 of 15 values left · 2 of 3 documents to review"

    # move back and forth; undo a decision
    assert _at(page) == ("inbox/c-cafe.txt", "merchant", "open")
    page.keyboard.press("k")
    assert _at(page) == ("inbox/b-acme.txt", "lines", "accepted")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    assert counter.inner_text().startswith("7 of 15")
    assert _at(page) == ("inbox/c-cafe.txt", "currency", "open")  # b's paid_on between is done
    page.keyboard.press("ArrowUp")
    assert _at(page) == ("inbox/b-acme.txt", "paid_on", "accepted")
    page.keyboard.press("k")
    assert _at(page) == ("inbox/c-cafe.txt", "merchant", "accepted")
    page.keyboard.press("u")
    assert _at(page)[2] == "open" and counter.inner_text().startswith("8 of 15")

    # a reload keeps the work
    page.reload()
    assert counter.inner_text() == "8 of 15 values left · 2 of 3 documents to review"
    assert _at(page) == ("inbox/c-cafe.txt", "merchant", "open")

    with page.expect_download() as download:
        page.keyboard.press("Control+s")
    assert download.value.suggested_filename == "labels.corrected.jsonl"
    saved = tmp_path / "labels.corrected.jsonl"
    download.value.save_as(saved)
    lines = {row["doc_id"]: row for row in map(json.loads, saved.read_text(encoding="utf-8").splitlines())}
    assert len(lines) == 3
    b = lines[IDS["b"]]
    assert b["reviewed"] is True and b["reviewed_by"] == "Ada"
    assert dt.datetime.fromisoformat(b["reviewed_at"]).tzinfo is not None
    assert b["fields"]["merchant"] == "ACME Trading Ltd" and b["fields"]["total"] == "99.00"
    assert b["fields"]["lines"] == [{"description": "Widget", "amount": "9.00"}]
    before = read_labels(folder, SCHEMA)
    assert lines[IDS["c"]] == dataclasses.asdict(before[IDS["c"]])  # partly reviewed: left as it was
    assert lines[IDS["a"]]["reviewed"] is False

    assert import_corrections(folder, saved, SCHEMA) == (1, 2)
    after = read_labels(folder, SCHEMA)
    assert after[IDS["b"]].fields["merchant"] == "ACME Trading Ltd" and after[IDS["b"]].fields["total"] == "99.00"
    assert after[IDS["b"]].reviewed and after[IDS["b"]].reviewed_by == "Ada"
    assert after[IDS["c"]] == before[IDS["c"]]

    # the hostile document is shown as text: nothing in it ran or loaded
    page.locator("#docs li", has_text="a-hostile.txt").click()
    assert "</script><script>window.__pwned=1</script>" in page.locator("#text").inner_text()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.images.length") == 0 and page.evaluate("document.scripts.length") == 2


# What the page decides must be what Pydantic decides: (field, typed text, the page's reason or None).
CASES = [
    ("total", "12.50", None),
    ("total", " 7.80 ", None),
    ("total", "12.500", None),  # trailing zeros do not count as decimal places
    ("total", "1e2", None),
    ("total", "123456.78", None),
    ("total", "", None),  # empty is null, and total may be null
    ("total", "abc", "total: must be a number"),
    ("total", "1,50", "total: must be a number"),
    ("total", "NaN", "total: must be a number"),
    ("total", "-1", "total: must be ≥ 0"),
    ("total", "99.001", "total: at most 2 decimal places"),
    ("total", "1234567.8", "total: at most 6 digits before the decimal point"),
    ("paid_on", "2024-02-29", None),
    ("paid_on", "2023-02-29", "paid_on: not a date YYYY-MM-DD"),
    ("paid_on", "2024-13-01", "paid_on: not a date YYYY-MM-DD"),
    ("paid_on", "01.02.2024", "paid_on: not a date YYYY-MM-DD"),
    ("merchant", "x" * 30, None),
    ("merchant", "🍰" * 30, None),  # thirty characters, sixty UTF-16 units
    ("merchant", "x" * 31, "merchant: at most 30 characters (this has 31)"),
    ("currency", "GBP", None),
    ("currency", "", None),
    ("currency", "JPY", "currency: must be one of EUR, USD, GBP"),
    ("currency", "eur", "currency: must be one of EUR, USD, GBP"),
    ("lines", "[]", None),
    ("lines", '[{"description": "Widget", "amount": "9.00"}, {"description": "Nut", "amount": 1.5}]', None),
    ("lines", '[{"amount": "1"}]', "lines[0].description: is required"),
    ("lines", '[{"description": "W", "amount": -1}]', "lines[0].amount: must be ≥ 0"),
    ("lines", '[{"description": "W", "amount": "1.234"}]', "lines[0].amount: at most 2 decimal places"),
    ("lines", '[{"description": "W", "colour": "red"}]', "lines[0]: unknown field colour"),
    (
        "lines",
        '[{"description": "W"}, {"description": "X"}, {"description": "Y"}, {"description": "Z"}]',
        "lines: at most 3 items (this has 4)",
    ),
    ("lines", '{"description": "W"}', "lines: must be a list"),
    ("lines", "[{", None),  # not JSON: checked below
]


@needs_browser
def test_the_page_refuses_what_the_schema_refuses(editor: Page) -> None:
    for field, typed, reason in CASES:
        got = editor.evaluate("([f, t]) => window.labelEditor.check(f, t)", [field, typed])
        if typed == "[{":
            assert got.startswith("lines: not valid JSON"), got
            continue
        assert got == reason, (field, typed, got)
        value = editor.evaluate("([f, t]) => window.labelEditor.parse(f, t)", [field, typed])
        try:
            Receipt.model_validate({field: value})
            pydantic_ok = True
        except pydantic.ValidationError:
            pydantic_ok = False
        assert pydantic_ok == (reason is None), (field, typed, value)
