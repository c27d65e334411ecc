"""`extractor review OUT`: one static HTML page to check extracted rows against their documents.

For each document: its text with the evidence of every field highlighted (one colour per field,
a red outline where the model was unsure), and beside it the extracted values with their
confidence, how they were found (exact, normalised, fuzzy) and the page. Filters show only the
documents, or only the fields, that are under a confidence threshold or were not found in the text.

The page is one file (template: review.html): styles and the few lines of script are inline, and
its content security policy forbids fetching anything. Document
text and values are untrusted and are HTML-escaped everywhere; the script only toggles classes.
The text is read again from each row's source file (the output stores values and offsets, not
text); a file that is gone or whose content changed is shown without its text.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from extractor.errors import InputError

PALETTE = 10  # field colours, classes f0..f9
LOW = 0.6  # default threshold shown on the page (changeable there)


@dataclass(frozen=True)
class ReviewDoc:
    source: str
    doc_id: str
    schema: str
    values: list[dict[str, Any]]  # one per field path: field, value, confidence, match, grounded, page, start, end
    text: str | None  # None when the source is gone or changed
    note: str = ""


def collect(out: str | os.PathLike[str], schemas: Sequence[str] | None = None, limit: int = 1000) -> list[ReviewDoc]:
    """The documents of an output folder, with their values, evidence and text."""
    from extractor.api import read
    from extractor.parse import parse_file

    root = Path(out)
    names = (
        list(schemas)
        if schemas
        else sorted(
            p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")) and "." not in p.name
        )
    )
    docs: list[ReviewDoc] = []
    for name in names:
        frame = read(root, name)
        if frame.empty:
            continue
        for row in frame.to_dict("records")[: max(limit - len(docs), 0)]:
            evidence = row.get("_evidence")
            values = [_value_of(e, row) for e in (list(evidence) if evidence is not None else [])]
            text, note = None, ""
            try:
                parsed = parse_file(row["source_path"])
                if parsed.doc_id == row["doc_id"]:
                    text = parsed.text
                else:
                    note = "the file changed since it was extracted; its text is not shown"
            except (InputError, OSError) as exc:
                note = f"source not readable now: {exc}"
            docs.append(ReviewDoc(row["source_path"], str(row["doc_id"]), name, values, text, note))
    return docs


def _value_of(evidence: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "field": evidence["field"],
        "value": _lookup(row, evidence["field"]),
        "confidence": evidence.get("confidence"),
        "match": evidence.get("match") or "",
        "grounded": evidence.get("grounded"),
        "page": evidence.get("page"),
        "start": evidence.get("start", -1),
        "end": evidence.get("end", -1),
        "text": evidence.get("text") or "",
    }


def _lookup(row: Mapping[str, Any], path: str) -> Any:
    """The value at `line_items[2].amount` in a row read back from Parquet."""
    value: Any = row
    for part in path.replace("]", "").split("."):
        name, _, index = part.partition("[")
        value = value.get(name) if isinstance(value, Mapping) else None
        if index and value is not None:
            items = list(value)
            value = items[int(index)] if int(index) < len(items) else None
    return value


def render(docs: Iterable[ReviewDoc], title: str = "extractor review", low: float = LOW) -> str:
    docs = list(docs)
    sections = [_section(i, d, low) for i, d in enumerate(docs)]
    flagged = sum('data-flagged="1"' in s for s in sections)
    page = string.Template((files("extractor") / "review.html").read_text(encoding="utf-8"))
    return page.substitute(
        title=html.escape(title),
        summary=html.escape(f"{len(docs)} documents, {flagged} with a value under {low:g} or not found in the text"),
        low=f"{low:g}",
        sections="\n".join(sections),
    )


def write(out: str | os.PathLike[str], path: str | os.PathLike[str] | None = None, **options: Any) -> Path:
    docs = collect(out, options.pop("schemas", None), options.pop("limit", 1000))
    target = Path(path) if path else Path(out) / "review.html"
    target.write_text(render(docs, title=f"extractor review: {Path(out).resolve().name}", **options), encoding="utf-8")
    return target


# -- rendering ---------------------------------------------------------------------------------


def _section(index: int, doc: ReviewDoc, low: float) -> str:
    colours = {v["field"]: n % PALETTE for n, v in enumerate(doc.values)}
    doubtful = any(_doubtful(v, low) for v in doc.values)
    rows = "\n".join(_value_row(v, colours[v["field"]], low) for v in doc.values)
    if doc.text is not None:
        body = f'<pre class="text">{_highlighted(doc.text, doc.values, colours, low)}</pre>'
    else:
        body = '<p class="missing">Text not available.</p>'
    note = f'<p class="note">{html.escape(doc.note)}</p>' if doc.note else ""
    return (
        f'<section class="doc" id="doc{index}" data-flagged="{int(doubtful)}">'
        f"<h2>{html.escape(Path(doc.source).name)} <small>{html.escape(doc.schema)} · "
        f"{html.escape(doc.source)}</small></h2>{note}"
        f'<div class="cols"><div class="left">{body}</div>'
        f'<div class="right"><table class="values"><thead><tr><th>field</th><th>value</th><th>confidence</th>'
        f"<th>found</th><th>page</th></tr></thead><tbody>{rows}</tbody></table></div></div></section>"
    )


def _doubtful(value: Mapping[str, Any], low: float) -> bool:
    confidence = value.get("confidence")
    return value.get("grounded") is False or (confidence is not None and confidence < low)


def _value_row(v: Mapping[str, Any], colour: int, low: float) -> str:
    confidence = v.get("confidence")
    shown = "" if confidence is None else f"{confidence:.2f}"
    level = "" if confidence is None else ("high" if confidence >= 0.9 else "mid" if confidence >= low else "low")
    found = {True: v.get("match") or "yes", False: "NOT FOUND", None: "n/a"}[v.get("grounded")]
    classes = (
        ["value"] + (["doubtful"] if _doubtful(v, low) else []) + (["ungrounded"] if v.get("grounded") is False else [])
    )
    value = v.get("value")
    if value is None or isinstance(value, (bool, list, dict)):
        printed = json.dumps(value, default=str, ensure_ascii=False)
    else:
        printed = str(value)  # strings, numbers, Decimals and dates as they read
    return (
        f'<tr class="{" ".join(classes)}" data-confidence="{shown or 1}">'
        f'<td><span class="swatch f{colour}"></span>{html.escape(v["field"])}</td>'
        f'<td>{html.escape(printed)}</td><td class="c-{level}">{shown}</td>'
        f"<td>{html.escape(found)}</td><td>{_page(v.get('page'))}</td></tr>"
    )


def _page(page: Any) -> str:
    """Pages come back from Parquet through pandas as floats (NaN for none)."""
    try:
        return str(int(page))
    except (TypeError, ValueError):
        return ""


def _highlighted(text: str, values: Sequence[Mapping[str, Any]], colours: Mapping[str, int], low: float) -> str:
    """The text, escaped, with each evidence span in a <mark>; overlapping spans are cut into
    segments, each marked for the first field that covers it and titled with all of them."""
    spans = [
        (int(v["start"]), int(v["end"]), v)
        for v in values
        if v.get("grounded") and 0 <= int(v["start"]) < int(v["end"]) <= len(text)
    ]
    if not spans:
        return html.escape(text)
    cuts = sorted({0, len(text), *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    out = []
    for a, b in itertools.pairwise(cuts):
        covering = [v for s, e, v in spans if s <= a and b <= e]
        piece = html.escape(text[a:b])
        if not covering:
            out.append(piece)
            continue
        first = covering[0]
        title = "; ".join(
            f"{v['field']} · {'?' if v.get('confidence') is None else format(v['confidence'], '.2f')} · "
            f"{v.get('match')}" + (f" · page {_page(v.get('page'))}" if _page(v.get("page")) else "")
            for v in covering
        )
        unsure = " unsure" if any(_doubtful(v, low) for v in covering) else ""
        out.append(
            f'<mark class="ev f{colours[first["field"]]}{unsure}" data-field="{html.escape(first["field"])}" '
            f'title="{html.escape(title)}">{piece}</mark>'
        )
    return "".join(out)
