"""Score an `extractor run` over a real-document evaluation set against the set's labels.

    python bench/real_sets/score.py data/real_sets/receipts out/rs-receipts [--schema receipt] [--details]

Per field, over the documents whose label gives that field (a field the label leaves out is not
counted for that document): how many predictions are right, strictly and leniently, and how many are
null. A labelled document without a row (it failed, or was not in the run) counts as a null
prediction on every field. Rows are matched to labels by file name.

Comparison, by the kind of field (inferred from the labels, see `field_kind`):

- text (names, addresses): strict = equal after `normalise_text` (Unicode NFKC, casefold, whitespace
  collapsed, punctuation stripped at both ends). Lenient = strict, or after `loose_text` (every
  punctuation mark made a space) rapidfuzz `fuzz.ratio` >= 90 (a few characters differ: OCR slips,
  a missing comma) or `fuzz.token_set_ratio` >= 90 when the shorter string has at least 2/3 of the
  longer's characters (words reordered or a word more; a short fragment such as "SDN BHD" cannot
  match a whole company name this way).
- id (invoice_number, charity_number, postcode, currency): strict as text; lenient also ignores
  whitespace inside ("SY37PQ" = "SY3 7PQ").
- number: equal within 0.01 (strict and lenient alike).
- date: the same calendar date (a datetime counts by its date).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

TOLERANCE = 0.01
FUZZ_THRESHOLD = 90
ID_FIELDS = frozenset({"invoice_number", "charity_number", "postcode", "currency"})
# The schema name `extractor run` gives each set's user schema (bench/real_sets/schemas.py).
SET_SCHEMAS = {
    "receipts": "receipt",
    "invoices": "invoice",
    "charity": "charity_report",
    "charity_text": "charity_report",
}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SPACE = re.compile(r"\s+")

# ----------------------------------------------------------------------------------- normalisation


def is_null(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _strip_punct(text: str) -> str:
    start, end = 0, len(text)
    while start < end and (text[start].isspace() or unicodedata.category(text[start]).startswith("P")):
        start += 1
    while end > start and (text[end - 1].isspace() or unicodedata.category(text[end - 1]).startswith("P")):
        end -= 1
    return text[start:end]


def normalise_text(value: Any) -> str:
    """Casefold, collapse whitespace, strip punctuation at both ends (NFKC first)."""
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    return _strip_punct(_SPACE.sub(" ", text).strip())


def loose_text(value: Any) -> str:
    """normalise_text with every punctuation mark replaced by a space."""
    text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in normalise_text(value))
    return _SPACE.sub(" ", text).strip()


def to_number(value: Any) -> float | None:
    if is_null(value) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        try:
            number = float(str(value).strip().replace(",", ""))
        except ValueError:
            return None
    return None if math.isnan(number) else number


def to_date(value: Any) -> dt.date | None:
    if is_null(value):
        return None
    if isinstance(value, dt.datetime):  # pandas Timestamp included
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "astype") and "datetime64" in str(getattr(value, "dtype", "")):
        return pd.Timestamp(value).date()
    text = str(value).strip()
    if _ISO_DATE.match(text):
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            return None
    return None


# ------------------------------------------------------------------------------------- comparison


def field_kind(name: str, expected_values: Iterable[Any]) -> str:
    """'number', 'date', 'id' or 'text' for a field, from its name and its labelled values."""
    values = [v for v in expected_values if not is_null(v)]
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "number"
    if values and all(isinstance(v, str) and _ISO_DATE.fullmatch(v) for v in values):
        return "date"
    return "id" if name in ID_FIELDS else "text"


def fuzzy_equal(expected: Any, predicted: Any) -> bool:
    from rapidfuzz import fuzz

    a, b = loose_text(expected), loose_text(predicted)
    if not a or not b:
        return a == b
    if a == b or fuzz.ratio(a, b) >= FUZZ_THRESHOLD:
        return True
    return min(len(a), len(b)) * 3 >= max(len(a), len(b)) * 2 and fuzz.token_set_ratio(a, b) >= FUZZ_THRESHOLD


def compare(kind: str, expected: Any, predicted: Any) -> tuple[bool, bool]:
    """(strict, lenient) for one labelled value and one prediction (None: no prediction)."""
    if is_null(predicted):
        return False, False
    if kind == "number":
        e, p = to_number(expected), to_number(predicted)
        ok = e is not None and p is not None and abs(e - p) <= TOLERANCE + 1e-9
        return ok, ok
    if kind == "date":
        e_date, p_date = to_date(expected), to_date(predicted)
        ok = e_date is not None and e_date == p_date
        return ok, ok
    strict = normalise_text(expected) == normalise_text(predicted)
    if kind == "id":
        squeeze = lambda v: _SPACE.sub("", normalise_text(v))  # noqa: E731
        return strict, strict or squeeze(expected) == squeeze(predicted)
    return strict, strict or fuzzy_equal(expected, predicted)


# -------------------------------------------------------------------------------------------- score


@dataclass(frozen=True)
class Label:
    file: str  # its name, the key rows are matched by
    expected: Mapping[str, Any]


def read_labels(set_dir: str | Path) -> list[Label]:
    labels = []
    for line in (Path(set_dir) / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            labels.append(Label(Path(record["file"]).name, record["expected"]))
    names = [label.file for label in labels]
    if len(set(names)) != len(names):
        raise ValueError(f"{set_dir}: two labelled documents share a file name")
    return labels


def _rows_by_file(rows_df: pd.DataFrame) -> dict[str, Mapping[str, Any]]:
    if rows_df is None or rows_df.empty or "source_path" not in rows_df.columns:
        return {}
    frame = rows_df
    if "extracted_at" in frame.columns:  # the same file twice (two runs, two paths): the last one
        frame = frame.sort_values("extracted_at", kind="stable")
    return {Path(str(row["source_path"])).name: row for row in frame.to_dict("records")}


def details(set_dir: str | Path, rows_df: pd.DataFrame) -> pd.DataFrame:
    """One row per labelled (document, field): expected, predicted, kind, strict, lenient."""
    labels = read_labels(set_dir)
    rows = _rows_by_file(rows_df)
    fields = list(dict.fromkeys(name for label in labels for name in label.expected))
    kinds = {name: field_kind(name, [label.expected.get(name) for label in labels]) for name in fields}
    out = []
    for label in labels:
        row = rows.get(label.file)
        for name, expected in label.expected.items():
            if is_null(expected):
                continue
            predicted = None if row is None else row.get(name)
            strict, lenient = compare(kinds[name], expected, predicted)
            out.append(
                {
                    "file": label.file,
                    "field": name,
                    "kind": kinds[name],
                    "expected": expected,
                    "predicted": None if is_null(predicted) else predicted,
                    "has_row": row is not None,
                    "strict": strict,
                    "lenient": lenient,
                }
            )
    return pd.DataFrame(out, columns=["file", "field", "kind", "expected", "predicted", "has_row", "strict", "lenient"])


def score(set_dir: str | Path, rows_df: pd.DataFrame) -> pd.DataFrame:
    """Per-field accuracy of `rows_df` (rows with `source_path` and the schema's fields) against the
    labels of `set_dir`, and a last row `ALL (micro)` over every labelled value. Columns: field, kind,
    n (labelled values), strict / lenient (right), strict_acc / lenient_acc, pred_null (labelled but
    predicted null, a missing row included). `.attrs` holds documents, with_row and unlabelled_rows."""
    detail = details(set_dir, rows_df)
    labels = read_labels(set_dir)
    table = []
    for name, group in detail.groupby("field", sort=False):
        n = len(group)
        table.append(
            {
                "field": name,
                "kind": group["kind"].iloc[0],
                "n": n,
                "strict": int(group["strict"].sum()),
                "lenient": int(group["lenient"].sum()),
                "strict_acc": group["strict"].sum() / n,
                "lenient_acc": group["lenient"].sum() / n,
                "pred_null": int(group["predicted"].isna().sum()),
            }
        )
    n = len(detail)
    table.append(
        {
            "field": "ALL (micro)",
            "kind": "",
            "n": n,
            "strict": int(detail["strict"].sum()),
            "lenient": int(detail["lenient"].sum()),
            "strict_acc": detail["strict"].sum() / n if n else 0.0,
            "lenient_acc": detail["lenient"].sum() / n if n else 0.0,
            "pred_null": int(detail["predicted"].isna().sum()),
        }
    )
    result = pd.DataFrame(table)
    rows = _rows_by_file(rows_df)
    labelled = {label.file for label in labels}
    result.attrs.update(
        documents=len(labels),
        with_row=sum(1 for name in labelled if name in rows),
        unlabelled_rows=sum(1 for name in rows if name not in labelled),
        null_numbers=int(detail.loc[detail["kind"] == "number", "predicted"].isna().sum()),
        labelled_numbers=int((detail["kind"] == "number").sum()),
    )
    return result


# ---------------------------------------------------------------------------------------------- CLI


def read_rows(out_dir: Path, schema: str, errors: bool = False) -> pd.DataFrame:
    import extractor

    return extractor.read(out_dir, schema, errors=errors)


def guess_schema(set_dir: Path, out_dir: Path) -> str:
    name = SET_SCHEMAS.get(set_dir.resolve().name)
    if name and (out_dir / name).is_dir():
        return name
    found = sorted(
        p.name
        for p in out_dir.iterdir()
        if p.is_dir() and not p.name.endswith(".errors") and not p.name.startswith(("_", "."))
    )
    if len(found) == 1:
        return found[0]
    raise SystemExit(f"cannot tell which schema's table to read in {out_dir} (found {found or 'none'}); give --schema")


def format_table(table: pd.DataFrame) -> str:
    lines = [f"{'field':<16} {'kind':<6} {'n':>4} {'strict':>13} {'lenient':>13} {'pred null':>9}"]
    for row in table.to_dict("records"):
        lines.append(
            f"{row['field']:<16} {row['kind']:<6} {row['n']:>4} "
            f"{row['strict']:>4} {row['strict_acc']:>7.1%} {row['lenient']:>4} {row['lenient_acc']:>7.1%} "
            f"{row['pred_null']:>9}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("set_dir", type=Path, help="a built set, e.g. data/real_sets/receipts")
    parser.add_argument("out_dir", type=Path, help="the --out folder of `extractor run` over the set's docs/")
    parser.add_argument("--schema", help="the schema name of the table to read (default: from the set's name)")
    parser.add_argument("--details", action="store_true", help="also list every wrong value")
    parser.add_argument("--json", type=Path, help="write the table and the counts to this JSON file")
    args = parser.parse_args(argv)
    schema = args.schema or guess_schema(args.set_dir, args.out_dir)
    rows = read_rows(args.out_dir, schema)
    errors = read_rows(args.out_dir, schema, errors=True)
    table = score(args.set_dir, rows)
    a = table.attrs
    print(
        f"{args.set_dir} vs {args.out_dir}/{schema}: {a['documents']} labelled documents, {a['with_row']} with a "
        f"row, {len(errors)} error row(s) in the output, {a['unlabelled_rows']} row(s) for unlabelled files"
    )
    print(format_table(table))
    print(f"numbers predicted null where a value is labelled: {a['null_numbers']} of {a['labelled_numbers']}")
    if args.details:
        detail = details(args.set_dir, rows)
        for name in detail.loc[~detail["has_row"], "file"].unique():
            print(f"  NO ROW     {name} (every labelled field counts as null)")
        wrong = detail[detail["has_row"] & (~detail["lenient"] | ~detail["strict"])]
        for row in wrong.to_dict("records"):
            mark = "lenient-ok" if row["lenient"] else "WRONG"
            print(f"  {mark:<10} {row['file']} {row['field']}: expected {row['expected']!r}, got {row['predicted']!r}")
    if args.json:
        payload = {"counts": dict(a), "fields": json.loads(table.to_json(orient="records"))}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
