"""Which labels of a labels folder a student is trained on, and which score it while it trains.

Reviewed labels always; unreviewed (teacher) labels only when the user asks, and then only those
whose every value the teacher was at least `unreviewed_above` sure of (0 takes them all). A share
of the chosen labels, picked by doc_id so that it is the same on every rerun, is held out as dev,
reviewed labels first (a person's values are the better yardstick).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extractor.errors import ConfigError
from extractor.labels.store import LABELS_NAME, Label, read_labels
from extractor.schema import SchemaInfo

SPLIT_NAME = "finetune.jsonl"  # the chosen labels with their split, beside labels.jsonl
DEV_SHARE = 0.15


@dataclass(frozen=True)
class TrainingSplit:
    """The file `extractor finetune` reads (lines with split train/dev) and what it was made of."""

    path: Path
    train: int
    dev: int
    provenance: dict[str, Any]


def is_label_folder(path: Path) -> bool:
    """Whether `path` is a folder written by `extractor label` (its labels carry doc_id and teacher)."""
    labels = path / LABELS_NAME if path.is_dir() else None
    if labels is None or not labels.is_file():
        return False
    first = next((line for line in labels.read_text(encoding="utf-8").splitlines() if line.strip()), "")
    try:
        line = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(line, dict) and "doc_id" in line and "reviewed" in line


def training_split(
    folder: Path, schema: SchemaInfo, unreviewed_above: float | None = None, dev_share: float = DEV_SHARE
) -> TrainingSplit:
    """Choose and split the labels of `folder`; write them to `folder/finetune.jsonl`."""
    labels = list(read_labels(folder, schema).values())
    reviewed = [label for label in labels if label.reviewed]
    unreviewed = (
        [] if unreviewed_above is None else [x for x in labels if not x.reviewed and _sure(x, unreviewed_above)]
    )
    chosen = reviewed + unreviewed
    if len(chosen) < 2:
        hint = (
            "review some (review.html, then --import), or train on the teacher's labels with --unreviewed-above 0"
            if unreviewed_above is None
            else f"lower --unreviewed-above (now {unreviewed_above:g}) or review more"
        )
        raise ConfigError(
            f"{len(chosen)} usable labels in {folder} ({len(reviewed)} reviewed of {len(labels)}); at least 2 are "
            f"needed: {hint}"
        )
    ordered = sorted(reviewed, key=_key) + sorted(unreviewed, key=_key)
    n_dev = max(1, round(dev_share * len(chosen)))
    dev = {label.doc_id for label in ordered[:n_dev]}
    lines = [
        {
            "file": label.file,
            "schema": label.schema,
            "split": "dev" if label.doc_id in dev else "train",
            "fields": label.fields,
        }
        for label in chosen
    ]
    path = folder / SPLIT_NAME
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    provenance = {
        "folder": str(folder),
        "labels": len(labels),
        "reviewed": len(reviewed),
        "reviewed_by": sorted({label.reviewed_by for label in reviewed if label.reviewed_by}),
        "unreviewed_used": len(unreviewed),
        "unreviewed_above": unreviewed_above,
        "teachers": sorted({label.teacher for label in chosen if label.teacher}),
        "train": len(chosen) - len(dev),
        "dev": len(dev),
    }
    return TrainingSplit(path, len(chosen) - len(dev), len(dev), provenance)


def _sure(label: Label, threshold: float) -> bool:
    """Every value the teacher gave a confidence for is at or above `threshold`."""
    return all(c is None or c >= threshold for c in label.confidence.values())


def _key(label: Label) -> str:
    return hashlib.sha256(label.doc_id.encode()).hexdigest()
