"""A labels folder: `labels.jsonl` (one label per document) and `documents/<doc_id>.txt` (the parsed
text the label's evidence offsets point into).

One line per document, keyed by `doc_id` (the SHA-256 of its bytes), in the format `extractor
finetune` and `extractor eval` read (`file` relative to the labels file, and `fields`), plus what a
person reviewing it needs:

    {"file": "inbox/a.pdf", "doc_id": "…", "schema": "invoice", "schema_fingerprint": "…",
     "fields": {...}, "confidence": {"total": 0.93, ...}, "evidence": [{"field": "total",
     "start": 10, "end": 16, "confidence": 0.93, "grounded": true}, ...],
     "reviewed": false, "reviewed_by": "", "reviewed_at": "", "teacher": "model id",
     "cluster": "email acme.com #1", "labelled_at": "2026-12-02T01:02:03+00:00"}

`fields` hold JSON values (dates ISO, decimals as strings). A label is only ever added or replaced
whole, by writing the file anew and renaming it into place; a reviewed label is never replaced by
a teacher's label.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic

from extractor.errors import ConfigError
from extractor.schema import SchemaInfo

LABELS_NAME = "labels.jsonl"
TEXTS_DIR = "documents"


@dataclass(frozen=True)
class Label:
    """One document's label, as one line of labels.jsonl."""

    file: str
    doc_id: str
    schema: str
    schema_fingerprint: str
    fields: dict[str, Any]
    confidence: dict[str, float | None] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    reviewed: bool = False
    reviewed_by: str = ""
    reviewed_at: str = ""
    teacher: str = ""
    cluster: str = ""
    labelled_at: str = ""

    def line(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=False)


def read_labels(folder: Path, schema: SchemaInfo | None = None) -> dict[str, Label]:
    """The labels of a folder by doc_id (empty when it has none). With `schema`, every label must
    be for it and hold values it accepts: a label written for another version of the schema, or a
    value the schema refuses (a hand-edited file), is a ConfigError naming the line and the field."""
    path = folder / LABELS_NAME
    if not path.is_file():
        return {}
    labels: dict[str, Label] = {}
    for number, label in _parse_lines(path):
        if schema is not None:
            check_schema(label, schema, f"{path}:{number}")
            validate_fields(label.fields, schema, f"{path}:{number}")
        labels[label.doc_id] = label
    return labels


def write_labels(folder: Path, labels: Iterable[Label]) -> Path:
    """Write every label (sorted by file) to labels.jsonl, atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LABELS_NAME
    text = "".join(label.line() + "\n" for label in sorted(labels, key=lambda label: label.file))
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, prefix=".labels-", delete=False) as tmp:
        tmp.write(text)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)
    return path


def write_text(folder: Path, doc_id: str, text: str, under: str = TEXTS_DIR) -> None:
    """Keep the document's parsed text beside its label (evidence offsets point into it)."""
    texts = folder / under
    texts.mkdir(parents=True, exist_ok=True)
    if not all(c in "0123456789abcdef" for c in doc_id):
        raise ValueError(f"not a doc_id: {doc_id!r}")  # doc_ids are hex digests: never a path
    (texts / f"{doc_id}.txt").write_text(text, encoding="utf-8")


def read_text(folder: Path, doc_id: str) -> str | None:
    path = folder / TEXTS_DIR / f"{doc_id}.txt"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def import_corrections(folder: Path, corrections: Path, schema: SchemaInfo, reviewer: str = "") -> tuple[int, int]:
    """Merge a file of corrected labels (as the review page saves it) into the folder's labels:
    every line marked reviewed replaces the label of its doc_id. Each line is checked first, and
    the whole file refused (ConfigError naming the line and the field) when one is wrong: not JSON,
    a doc_id the folder does not hold, another schema version, or fields the schema refuses.
    Returns (labels replaced, lines not marked reviewed and so left out)."""
    labels = read_labels(folder, schema)
    if not corrections.is_file():
        raise ConfigError(f"corrections file not found: {corrections}")
    replaced: dict[str, Label] = {}
    skipped = 0
    for number, label in _parse_lines(corrections):
        where = f"{corrections}:{number}"
        if label.doc_id not in labels:
            raise ConfigError(f"{where}: no label for doc_id {label.doc_id[:16]}… in {folder / LABELS_NAME}")
        check_schema(label, schema, where)
        if not label.reviewed:
            skipped += 1
            continue
        fields = validate_fields(label.fields, schema, where)
        replaced[label.doc_id] = Label(
            **{
                **asdict(labels[label.doc_id]),
                "fields": fields,
                "reviewed": True,
                "reviewed_by": label.reviewed_by or reviewer,
                "reviewed_at": label.reviewed_at or now(),
            }
        )
    write_labels(folder, {**labels, **replaced}.values())
    return len(replaced), skipped


def check_schema(label: Label, schema: SchemaInfo, where: str) -> None:
    if label.schema != schema.name or label.schema_fingerprint != schema.fingerprint:
        raise ConfigError(
            f"{where}: labelled for schema {label.schema!r} (fingerprint {label.schema_fingerprint}), not for "
            f"{schema.name!r} as it is now (fingerprint {schema.fingerprint}); the schema changed since labelling: "
            "relabel with `extractor label ... --relabel`"
        )


def validate_fields(fields: dict[str, Any], schema: SchemaInfo, where: str) -> dict[str, Any]:
    """The fields as the schema holds them (JSON values), or a ConfigError naming the field."""
    try:
        return schema.model.model_validate(fields).model_dump(mode="json")
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(p) for p in error["loc"]) or "(all fields)"
        raise ConfigError(f"{where}: field {name}: {error['msg']}") from None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _parse_lines(path: Path) -> Iterator[tuple[int, Label]]:
    known = set(Label.__dataclass_fields__)
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not JSON: {exc.msg}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}:{number}: a label is a JSON object")
        missing = {"file", "doc_id", "schema", "schema_fingerprint", "fields"} - raw.keys()
        if missing:
            raise ConfigError(f"{path}:{number}: missing {', '.join(sorted(missing))}")
        if not isinstance(raw["fields"], dict):
            raise ConfigError(f"{path}:{number}: fields is a JSON object")
        yield number, Label(**{k: v for k, v in raw.items() if k in known})
