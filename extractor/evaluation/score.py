"""Field-level scores of predictions against labels.

Per field: true positives, false positives, false negatives (so precision, recall, F1) and exact
match, after the normalisation a user would accept: case and whitespace for strings, a numeric
tolerance for amounts, dates compared as dates, lists compared as multisets with per-item matching.
A document with no row (an error row, or absent from the predictions) counts as a miss on every
field, never as skipped.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from extractor.schema import FieldSpec

DEFAULT_TOLERANCE = Decimal("0.01")
_SPACE = re.compile(r"\s+")
_EDGE_PUNCT = " .,;:"


@dataclass
class FieldScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    exact: int = 0
    documents: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        if self.tp + self.fp + self.fn == 0:  # nothing to find and nothing found: perfect
            return 1.0
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def exact_match(self) -> float:
        return self.exact / self.documents if self.documents else 0.0


@dataclass
class Scores:
    fields: dict[str, FieldScore]
    documents: int = 0
    predicted: int = 0  # documents with a row
    failed: int = 0  # documents with an error row
    missing: int = 0  # documents with neither
    all_correct: int = 0
    by_family: dict[str, tuple[int, int]] = field(default_factory=dict)  # family -> (all correct, documents)
    families: dict[str, Scores] = field(default_factory=dict)  # family -> its own scores, when there are several

    @property
    def all_correct_rate(self) -> float:
        return self.all_correct / self.documents if self.documents else 0.0

    @property
    def micro_f1(self) -> float:
        """F1 over every field value pooled: a field with many values (line items) weighs more."""
        tp = sum(s.tp for s in self.fields.values())
        fp = sum(s.fp for s in self.fields.values())
        fn = sum(s.fn for s in self.fields.values())
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0

    @property
    def macro_f1(self) -> float:
        return sum(s.f1 for s in self.fields.values()) / len(self.fields) if self.fields else 0.0


@dataclass(frozen=True)
class Case:
    """One labelled document and what the run produced for it (None: no row)."""

    gold: Mapping[str, Any]
    predicted: Mapping[str, Any] | None
    failed: bool = False
    family: str = ""


def score(cases: Iterable[Case], specs: Iterable[FieldSpec], tolerance: Decimal = DEFAULT_TOLERANCE) -> Scores:
    specs = [s for s in specs]
    cases = list(cases)
    result = Scores(fields={})
    names = sorted({case.family for case in cases})
    if len(names) > 1:  # where a model fails is often a layout, not a field
        result.families = {name: score([c for c in cases if c.family == name], specs, tolerance) for name in names}
    for case in cases:
        labelled = [s for s in specs if s.name in case.gold]
        result.documents += 1
        if case.predicted is not None:
            result.predicted += 1
        elif case.failed:
            result.failed += 1
        else:
            result.missing += 1
        correct = True
        for spec in labelled:
            fs = result.fields.setdefault(spec.name, FieldScore())
            gold = case.gold[spec.name]
            pred = case.predicted.get(spec.name) if case.predicted is not None else None
            tp, fp, fn, exact = compare(spec, gold, pred, tolerance, absent=case.predicted is None)
            fs.tp, fs.fp, fs.fn, fs.documents = fs.tp + tp, fs.fp + fp, fs.fn + fn, fs.documents + 1
            fs.exact += exact
            correct = correct and exact
        result.all_correct += correct
        ok, total = result.by_family.get(case.family, (0, 0))
        result.by_family[case.family] = (ok + correct, total + 1)
    return result


def compare(
    spec: FieldSpec, gold: Any, pred: Any, tolerance: Decimal, absent: bool = False
) -> tuple[int, int, int, bool]:
    """(tp, fp, fn, exact) for one field of one document."""
    if spec.kind == "list":
        assert spec.item is not None
        gold_items, pred_items = list(gold or []), [] if absent else list(pred or [])
        unused = list(pred_items)
        tp = 0
        for g in gold_items:
            hit = next((i for i, p in enumerate(unused) if _equal(spec.item, g, p, tolerance)), None)
            if hit is not None:
                unused.pop(hit)
                tp += 1
        fn, fp = len(gold_items) - tp, len(unused)
        return tp, fp, fn, not absent and fn == 0 and fp == 0
    if absent:
        return 0, 0, int(gold is not None), False
    if gold is None:
        return 0, int(pred is not None), 0, pred is None
    if pred is None:
        return 0, 0, 1, False
    if _equal(spec, gold, pred, tolerance):
        return 1, 0, 0, True
    return 0, 1, 1, False


def _equal(spec: FieldSpec, gold: Any, pred: Any, tolerance: Decimal) -> bool:
    if gold is None or pred is None:
        return gold is None and pred is None
    kind = spec.kind
    if kind == "object":
        return all(_equal(f, gold.get(f.name), pred.get(f.name), tolerance) for f in spec.fields if f.name in gold)
    if kind in ("decimal", "number", "integer"):
        g, p = _number(gold), _number(pred)
        return g is not None and p is not None and abs(g - p) <= (tolerance if kind != "integer" else 0)
    if kind == "date":
        return _date(gold) == _date(pred)
    if kind == "datetime":
        return _datetime(gold) == _datetime(pred)
    if kind == "boolean":
        return bool(gold) == bool(pred)
    return normalise_text(gold) == normalise_text(pred)


def normalise_text(value: Any) -> str:
    return _SPACE.sub(" ", str(getattr(value, "value", value))).strip(_EDGE_PUNCT).casefold()


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def _datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None, second=0, microsecond=0)
    try:
        return dt.datetime.fromisoformat(str(value)).replace(tzinfo=None, second=0, microsecond=0)
    except ValueError:
        return None
