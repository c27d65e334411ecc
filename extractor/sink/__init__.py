"""Stage 3: Records -> Arrow tables -> an output folder of Parquet datasets with a ledger.

arrow.py     Records -> typed Arrow tables (rows, errors)
dataset.py   the on-disk layout: run-date partitions, atomic file writes, rewrites, reads
ledger.py    SQLite: which input's row lives in which file, attempts, runs
lock.py      one run per output folder
store.py     the three together: recover, plan, commit, compact
views.py     what readers see: live rows through the ledger, status
"""

from extractor.sink.arrow import ERRORS_SCHEMA, arrow_type, errors_table, rows_schema, rows_table
from extractor.sink.dataset import read_dataset
from extractor.sink.store import OutputStore

__all__ = [
    "ERRORS_SCHEMA",
    "OutputStore",
    "arrow_type",
    "errors_table",
    "read_dataset",
    "rows_schema",
    "rows_table",
]
