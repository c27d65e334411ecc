"""What readers see of an output folder: its live rows (through the ledger) and its status."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from extractor.sink.dataset import ROWS, dataset_dir, item_keys, read_dataset
from extractor.sink.ledger import LEDGER_NAME, Ledger


def read_live(out_dir: str | os.PathLike[str], schema_name: str, kind: str = ROWS) -> pa.Table | None:
    """The rows the ledger counts as live: the last committed state, each input at most once, even
    right after a kill (when a raw reader of the folder could see a replaced row twice). None if
    the dataset holds no rows. A folder without a ledger is read as it is."""
    out = Path(out_dir)
    if not (out / LEDGER_NAME).is_file():
        return read_dataset(dataset_dir(out, schema_name, kind))
    ledger = Ledger(out)
    try:
        live: dict[str, set[str]] = defaultdict(set)
        for data_file, key in ledger.query("SELECT data_file, item_key FROM items WHERE schema_name=?", (schema_name,)):
            live[str(data_file)].add(str(key))
        files = [
            rel for rel, (name, k, _rows, _dirty) in sorted(ledger.files().items()) if name == schema_name and k == kind
        ]
    finally:
        ledger.close()
    tables = []
    for rel in files:
        try:
            table = pq.read_table(out / rel, partitioning=None)
        except FileNotFoundError:  # replaced by a compaction since the ledger was read
            continue
        table = table.filter(pa.array([k in live[rel] for k in item_keys(table)], pa.bool_()))
        run_date = Path(rel).parent.name.partition("=")[2]
        tables.append(table.append_column("run_date", pa.array([run_date] * table.num_rows, pa.string())))
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="permissive")


def status_of(ledger: Ledger) -> dict[str, Any]:
    """Done/failed/pending per schema, rows, last runs, errors by reason."""
    schemas: dict[str, Any] = {}
    for schema_name, status, count in ledger.query(
        "SELECT schema_name, status, count(*) FROM items GROUP BY schema_name, status"
    ):
        schemas.setdefault(schema_name, {"ok": 0, "failed": 0, "pending": 0, "errors": {}})[str(status)] = count
    for schema_name, count in ledger.query("SELECT schema_name, count(*) FROM queue GROUP BY schema_name"):
        schemas.setdefault(schema_name, {"ok": 0, "failed": 0, "pending": 0, "errors": {}})["pending"] = count
    for schema_name, stage, error_type, count in ledger.query(
        "SELECT schema_name, error_stage, error_type, count(*) FROM items WHERE status='failed'"
        " GROUP BY schema_name, error_stage, error_type ORDER BY count(*) DESC"
    ):
        schemas[schema_name]["errors"][f"{stage}/{error_type}"] = count
    for schema_name, kind, files, rows in ledger.query(
        "SELECT schema_name, kind, count(*), sum(rows) FROM files GROUP BY schema_name, kind"
    ):
        entry = schemas.setdefault(schema_name, {"ok": 0, "failed": 0, "pending": 0, "errors": {}})
        entry[f"{kind}_files"], entry[f"{kind}_rows"] = files, rows
    columns = (
        "run_id",
        "action",
        "schema_name",
        "started_at",
        "finished_at",
        "status",
        "inputs",
        "planned",
        "ok",
        "failed",
    )
    runs = [
        dict(zip(columns, row, strict=True))
        for row in ledger.query(f"SELECT {', '.join(columns)} FROM runs ORDER BY run_id DESC LIMIT 5")
    ]
    return {"schemas": schemas, "runs": runs}
