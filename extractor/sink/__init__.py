"""Stage 3: Records -> Arrow tables -> Parquet files and pandas DataFrames."""

from extractor.sink.arrow import ERRORS_SCHEMA, arrow_type, errors_table, rows_schema, rows_table
from extractor.sink.parquet import WrittenTables, table_paths, write_tables

__all__ = [
    "ERRORS_SCHEMA",
    "WrittenTables",
    "arrow_type",
    "errors_table",
    "rows_schema",
    "rows_table",
    "table_paths",
    "write_tables",
]
