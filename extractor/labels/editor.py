"""The label editor: `<labels folder>/review.html`, one static page in which a person corrects the
labels a teacher wrote, value by value, and saves the result for `extractor label --import`.

Contract:

- Input: the folder's labels.jsonl, every label for `schema` as it is now (else a ConfigError from
  `read_labels`), and `documents/<doc_id>.txt`, the texts their evidence offsets point into.
- One value to review per top-level schema field per document (a list of objects is one value,
  edited as JSON). The queue runs across all documents, most doubtful first: values not found in
  the text, then by confidence (lowest first), then values without a confidence; labels reviewed
  earlier come last, already counted as done.
- A value is accepted, corrected (typed, or filled from a span selected in the document text) or
  cleared to null. The page refuses a value that does not validate against the field's JSON Schema
  (`schema.model.model_json_schema()`, embedded, with the Decimal fields' digit limits added as
  `x-decimal`) and shows why.
- Save downloads `labels.corrected.jsonl`: every line of labels.jsonl in its order; a document
  whose values are all decided in the page is marked `"reviewed": true` with its corrected
  `fields`, `reviewed_by` (the name at the top of the page) and `reviewed_at` (ISO time of its last
  decision); the other lines are as they were. `import_corrections` reads it.
- Work in progress stays in the browser's localStorage under a hash of labels.jsonl, so a reload
  keeps it and a regenerated page (after an import) starts afresh.
- The page fetches nothing (its content security policy forbids it) and has no external asset.
  Document text and values are untrusted: they are embedded as JSON in a non-executed script
  element (with <, > and & escaped) and put on the page as text only.
"""

from __future__ import annotations

import copy
import hashlib
import html
import itertools
import json
import re
from dataclasses import asdict
from importlib.resources import files
from pathlib import Path
from typing import Any

from extractor.labels.store import LABELS_NAME, Label, read_labels, read_text
from extractor.schema import FieldSpec, SchemaInfo

PAGE_NAME = "review.html"
SAVED_NAME = "labels.corrected.jsonl"  # what the page's Save downloads
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


def write_editor(folder: Path, schema: SchemaInfo, reviewer: str = "") -> Path:
    """Write the label editor page for the folder's labels to `folder/review.html`; return its path."""
    path = folder / PAGE_NAME
    path.write_text(render_editor(folder, schema, reviewer), encoding="utf-8")
    return path


def render_editor(folder: Path, schema: SchemaInfo, reviewer: str = "") -> str:
    """The editor page for the folder's labels, as HTML."""
    labels = list(read_labels(folder, schema).values())
    source = folder / LABELS_NAME
    digest = hashlib.sha256(source.read_bytes() if source.is_file() else b"").hexdigest()[:16]
    docs = [_doc(label, read_text(folder, label.doc_id)) for label in labels]
    data = {
        "schema_name": schema.name,
        "fingerprint": schema.fingerprint,
        "hash": digest,
        "reviewer": reviewer,
        "schema": page_schema(schema),
        "docs": docs,
        "items": review_queue(labels, schema),
    }
    title = f"label review: {folder.resolve().name} ({schema.name})"
    values = {"title": html.escape(title), "data": script_json(data)}
    template = (files("extractor.labels") / "editor.html").read_text(encoding="utf-8")
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], template)


def left_to_review(folder: Path, schema: SchemaInfo | None = None) -> int:
    """How many values wait for review: those of the labels not marked reviewed (one per schema
    field with `schema`, else one per field the label holds)."""
    labels = read_labels(folder, schema).values()
    return sum(len(schema.fields) if schema else len(label.fields) for label in labels if not label.reviewed)


def review_queue(labels: list[Label], schema: SchemaInfo) -> list[dict[str, Any]]:
    """The values to review, one per document and top-level field, most doubtful first; `doc`
    indexes `labels`."""
    items = []
    for d, label in enumerate(labels):
        for f, spec in enumerate(schema.fields):
            evidence = [e for e in label.evidence if top_field(str(e.get("field", ""))) == spec.name]
            found = [e.get("grounded") for e in evidence if e.get("grounded") is not None]
            grounded = None if not found else all(found)
            confidence = label.confidence.get(spec.name)
            if confidence is None:
                known = [e["confidence"] for e in evidence if e.get("confidence") is not None]
                confidence = min(known) if known else None
            tier = 0 if grounded is False else 1 if confidence is not None else 2
            key = (label.reviewed, tier, 2.0 if confidence is None else confidence, d, f)
            items.append((key, _item(d, spec, confidence, grounded, evidence)))
    return [item for _, item in sorted(items, key=lambda pair: pair[0])]


def page_schema(schema: SchemaInfo) -> dict[str, Any]:
    """The model's JSON Schema, with `x-decimal` {maxDigits, decimalPlaces} on both branches of each
    Decimal field (JSON Schema has no word for digit limits, and Pydantic's string branch carries
    neither them nor the number branch's bounds, so a page would otherwise take "abc" or "-1")."""
    tree = copy.deepcopy(schema.model.model_json_schema())
    _mark_object(tree, schema.fields, tree)
    return tree


def script_json(data: Any) -> str:
    """JSON that cannot end or open an element inside <script type="application/json">."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


# -- page data -----------------------------------------------------------------------------------


def _doc(label: Label, text: str | None) -> dict[str, Any]:
    spans = []
    if text is not None:
        utf16 = _utf16_offsets(text)
        for e in label.evidence:
            start, end = int(e.get("start", -1)), int(e.get("end", -1))
            if 0 <= start < end <= len(text):
                spans.append(
                    {
                        "start": utf16[start] if utf16 else start,
                        "end": utf16[end] if utf16 else end,
                        "field": str(e.get("field", "")),
                        "top": top_field(str(e.get("field", ""))),
                        "confidence": e.get("confidence"),
                        "grounded": e.get("grounded"),
                    }
                )
    return {"doc_id": label.doc_id, "file": label.file, "text": text, "label": asdict(label), "spans": spans}


def _item(
    doc: int, spec: FieldSpec, confidence: float | None, grounded: bool | None, evidence: list[dict[str, Any]]
) -> dict[str, Any]:
    matches = sorted({str(e["match"]) for e in evidence if e.get("match")})
    return {
        "doc": doc,
        "field": spec.name,
        "type": spec.type_label + (" or empty" if spec.nullable else ""),
        "confidence": confidence,
        "grounded": grounded,
        "match": ", ".join(matches),
    }


def top_field(path: str) -> str:
    """`line_items[2].amount` -> `line_items`."""
    return path.split("[")[0].split(".")[0]


def _utf16_offsets(text: str) -> list[int] | None:
    """Python counts code points, the page's JavaScript UTF-16 units: they differ after any
    character outside the Basic Multilingual Plane (emoji, some CJK)."""
    if all(ord(c) < 0x10000 for c in text):
        return None
    return list(itertools.accumulate((2 if ord(c) > 0xFFFF else 1 for c in text), initial=0))


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node and str(node["$ref"]).startswith("#/"):
        target: Any = root
        for part in str(node["$ref"])[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = target
    return node


def _branches(node: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    node = _resolve(node, root)
    alternatives = node.get("anyOf") or node.get("oneOf") or node.get("allOf")
    if alternatives:
        return [b for a in alternatives for b in _branches(a, root)]
    return [node]


def _mark_object(node: dict[str, Any], specs: tuple[FieldSpec, ...], root: dict[str, Any]) -> None:
    for branch in _branches(node, root):
        properties = branch.get("properties", {})
        for spec in specs:
            if spec.name in properties:
                _mark(properties[spec.name], spec, root)


def _mark(node: dict[str, Any], spec: FieldSpec, root: dict[str, Any]) -> None:
    branches = _branches(node, root)
    if spec.kind == "decimal":
        bounds = {k: v for b in branches if b.get("type") == "number" for k, v in b.items() if k in _BOUNDS}
        for branch in branches:
            if branch.get("type") in ("number", "string"):
                branch["x-decimal"] = {"maxDigits": spec.max_digits, "decimalPlaces": spec.decimal_places}
                branch.update(bounds)
    elif spec.kind == "list" and spec.item is not None:
        for branch in branches:
            if isinstance(branch.get("items"), dict):
                _mark(branch["items"], spec.item, root)
    elif spec.kind == "object":
        _mark_object(node, spec.fields, root)
