"""Write the rows and errors tables as Parquet files that pandas, DuckDB and Spark read as-is.

    OUT/<schema>.parquet          one row per successful document
    OUT/<schema>.errors.parquet   one row per failed document

Each file is written under a temporary name, fsynced, then renamed into place, so a reader never
sees a half-written file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


@dataclass(frozen=True)
class WrittenTables:
    rows_path: Path
    errors_path: Path
    rows: int
    errors: int


def table_paths(out_dir: Path, schema_name: str) -> tuple[Path, Path]:
    return out_dir / f"{schema_name}.parquet", out_dir / f"{schema_name}.errors.parquet"


def write_tables(out_dir: str | Path, schema_name: str, rows: pa.Table, errors: pa.Table) -> WrittenTables:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows_path, errors_path = table_paths(out, schema_name)
    write_atomic(rows, rows_path)
    write_atomic(errors, errors_path)
    return WrittenTables(rows_path, errors_path, rows.num_rows, errors.num_rows)


def write_atomic(table: pa.Table, path: Path) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            pq.write_table(table, f, compression="zstd")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
