"""`extractor eval`: score the Parquet written by `extractor run` against labels.jsonl.

Predictions are matched to labels on the source file. Every labelled document is scored: one
with an error row, or with no row at all, counts as a miss on every field.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from extractor.errors import ConfigError
from extractor.evaluation.score import DEFAULT_TOLERANCE, Case, FieldScore, Scores, score
from extractor.schema import SchemaInfo, load_schema

__all__ = ["Case", "Evaluation", "FieldScore", "Scores", "evaluate", "load_labels", "score", "score_rows"]


@dataclass(frozen=True)
class Evaluation:
    schema: SchemaInfo
    predictions: Path
    labels: Path
    split: str | None
    scores: Scores


def load_labels(path: Path, split: str | None = None) -> list[dict[str, Any]]:
    if not path.is_file():
        raise ConfigError(f"labels file not found: {path}")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if split is not None:
        rows = [r for r in rows if r.get("split") == split]
        if not rows:
            raise ConfigError(f"no labels with split {split!r} in {path}")
    return rows


def evaluate(
    predictions: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    *,
    split: str | None = None,
    schema: str | None = None,
    tolerance: Decimal = DEFAULT_TOLERANCE,
) -> Evaluation:
    """Score a run's output (its output folder, or the `<schema>` dataset in it) against a labels file."""
    from extractor.sink.dataset import ERRORS, ROWS
    from extractor.sink.views import read_live

    labels_path = Path(labels)
    gold = load_labels(labels_path, split)
    schema_info = load_schema(schema or gold[0].get("schema") or "")
    # A labels file may cover several schemas (data/samples does): score this schema's documents only.
    gold = [g for g in gold if g.get("schema", schema_info.name) == schema_info.name]
    if not gold:
        raise ConfigError(f"no labels for schema {schema_info.name!r} in {labels_path}")
    rows_path = _rows_dataset(Path(predictions), schema_info.name)
    rows_table = read_live(rows_path.parent, schema_info.name, ROWS)
    errors_table = read_live(rows_path.parent, schema_info.name, ERRORS)
    rows = rows_table.to_pylist() if rows_table is not None else []
    errors = errors_table.to_pylist() if errors_table is not None else []
    scores = score_rows(
        rows, [e["source_path"] for e in errors], gold, labels_path.resolve().parent, schema_info, tolerance
    )
    return Evaluation(schema_info, rows_path, labels_path, split, scores)


def score_rows(
    rows: list[dict[str, Any]],
    error_sources: list[str],
    gold: list[dict[str, Any]],
    labels_dir: Path,
    schema_info: SchemaInfo,
    tolerance: Decimal = DEFAULT_TOLERANCE,
) -> Scores:
    """Score rows (as read from the Parquet, or a run's rows table) against labels whose `file`
    paths are relative to `labels_dir`."""
    by_path = {_key(r["source_path"]): r for r in rows}
    failed = {_key(source) for source in error_sources}
    cases = []
    for label in gold:
        key = _key(labels_dir / label["file"])
        row = by_path.get(key) or _by_suffix(by_path, label["file"])
        cases.append(
            Case(
                gold=label["fields"],
                predicted=row,
                failed=row is None and key in failed,
                family=label.get("family", ""),
            )
        )
    return score(cases, schema_info.fields, tolerance)


def _rows_dataset(path: Path, schema_name: str) -> Path:
    """OUT/<schema>, given OUT or OUT/<schema>. An output folder may itself be named after its schema
    (out/invoice/invoice/...): a folder holding a `<schema>` dataset is taken as OUT first."""
    candidate = path / schema_name
    if not candidate.is_dir() and path.name == schema_name:
        candidate = path
    if not candidate.is_dir():
        raise ConfigError(f"no {schema_name!r} rows in {path} (expected the output folder of `extractor run`)")
    return candidate


def _key(path: str | os.PathLike[str]) -> str:
    return str(Path(path).resolve())


def _by_suffix(rows: dict[str, dict[str, Any]], relative: str) -> dict[str, Any] | None:
    """A row whose path ends with the label's relative path (the run was made from elsewhere)."""
    suffix = "/" + relative.lstrip("/")
    matches = [row for key, row in rows.items() if key.endswith(suffix)]
    return matches[0] if len(matches) == 1 else None
