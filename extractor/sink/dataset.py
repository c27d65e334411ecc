"""A schema's output on disk: two Parquet datasets, partitioned by the date of the run.

    OUT/<schema>/run_date=YYYY-MM-DD/part-<run>-<seq>.parquet          one row per good document
    OUT/<schema>.errors/run_date=YYYY-MM-DD/part-<run>-<seq>.parquet   one row per failed input

pandas, DuckDB and Spark read each folder as one table (with `run_date` as a column). Every file
is written under a hidden temporary name, flushed and fsynced, then renamed into place and the
folder fsynced, so a reader never sees a partial file. Which rows are live is decided by the
ledger (sink/ledger.py); this module only moves files.

A row belongs to one input, its *item*: the document's content hash (`doc_id`), or
``path:<source_path>`` for an input that could not be read at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from extractor import faults

ROWS, ERRORS = "rows", "errors"
_SUFFIX = {ROWS: "", ERRORS: ".errors"}
TMP_SUFFIX = ".tmp"


def dataset_dir(out_dir: Path, schema_name: str, kind: str) -> Path:
    return out_dir / f"{schema_name}{_SUFFIX[kind]}"


def item_key(doc_id: str | None, source_path: str) -> str:
    return doc_id if doc_id else f"path:{source_path}"


def item_keys(table: pa.Table) -> list[str]:
    doc_ids = table.column("doc_id").to_pylist()
    sources = table.column("source_path").to_pylist()
    return [item_key(d, s) for d, s in zip(doc_ids, sources, strict=True)]


def write_file(table: pa.Table, path: Path, step: str = "part") -> None:
    """Write `table` to `path` so that `path` either does not exist or holds the whole file.
    `step` names the kill points around it (faults.py)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{TMP_SUFFIX}")
    with tmp.open("wb") as f:
        pq.write_table(table, f, compression="zstd")
        f.flush()
        os.fsync(f.fileno())
    faults.point(f"{step}_tmp_written")
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    faults.point(f"{step}_renamed")


def rewrite(path: Path, live: Mapping[str, str]) -> int:
    """Keep only the rows of items in `live` (item key -> current source path), with their source
    paths brought up to date. Returns the rows left; a file left empty is removed."""
    table = pq.read_table(path, partitioning=None)
    keys = item_keys(table)
    keep = pa.array([k in live for k in keys], pa.bool_())
    table = table.filter(keep)
    if table.num_rows == 0:
        path.unlink(missing_ok=True)
        _fsync_dir(path.parent)
        return 0
    kept = [k for k in keys if k in live]
    sources = pa.array([live[k] for k in kept], pa.string())
    table = table.set_column(table.schema.get_field_index("source_path"), table.schema.field("source_path"), sources)
    write_file(table, path, step="rewrite")
    return table.num_rows


def merge_files(paths: Iterable[Path], target: Path) -> int:
    """Write the rows of `paths` into one file `target` (the sources are left for the caller)."""
    tables = [pq.read_table(p, partitioning=None) for p in paths]
    merged = pa.concat_tables(tables, promote_options="permissive")
    write_file(merged, target, step="compact")
    return merged.num_rows


def data_files(out_dir: Path) -> list[Path]:
    """Every visible Parquet file under the output folder's datasets."""
    return sorted(p for p in out_dir.glob("*/run_date=*/*.parquet") if not p.name.startswith("."))


def temp_files(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob(f"*/run_date=*/.*{TMP_SUFFIX}"))


def read_dataset(folder: Path, columns: list[str] | None = None) -> pa.Table | None:
    """All files of one dataset as one table with a `run_date` column; files written under
    different versions of a schema are unified by column name. None if the folder has no files."""
    import pyarrow.dataset as ds

    files = sorted(p for p in folder.glob("run_date=*/*.parquet") if not p.name.startswith("."))
    if not files:
        return None
    schema = pa.unify_schemas(
        [pq.read_schema(p) for p in files] + [pa.schema([("run_date", pa.string())])], promote_options="permissive"
    )
    partitioning = ds.partitioning(pa.schema([("run_date", pa.string())]), flavor="hive")
    dataset = ds.dataset(
        [str(p) for p in files], schema=schema, partitioning=partitioning, partition_base_dir=str(folder)
    )
    table = dataset.to_table(columns=columns)
    return table.sort_by([("run_date", "ascending")]) if "run_date" in table.column_names else table


def prune_empty_dirs(out_dir: Path) -> None:
    for part in out_dir.glob("*/run_date=*"):
        if part.is_dir() and not any(part.iterdir()):
            part.rmdir()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "ERRORS",
    "ROWS",
    "data_files",
    "dataset_dir",
    "item_key",
    "item_keys",
    "merge_files",
    "read_dataset",
    "rewrite",
    "temp_files",
    "write_file",
]
