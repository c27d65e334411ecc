from __future__ import annotations

import datetime as dt
import enum
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from extractor.pipeline import RunResult
from extractor.schema import load_schema
from extractor.sink import arrow_type, read_dataset, rows_table
from extractor.types import ErrorInfo, Provenance, Record, Stage, Status


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Part(BaseModel):
    name: str
    weight_kg: float | None = None


class Everything(BaseModel):
    text: str
    count: int
    ratio: float
    price: Decimal = Field(max_digits=10, decimal_places=2)
    day: dt.date
    moment: dt.datetime
    flag: bool
    colour: Colour
    size: Literal["s", "m", "l"]
    tags: list[str]
    part: Part
    parts: list[Part]
    maybe: str | None = None


EXPECTED_TYPES = {
    "text": pa.string(),
    "count": pa.int64(),
    "ratio": pa.float64(),
    "price": pa.decimal128(10, 2),
    "day": pa.date32(),
    "moment": pa.timestamp("us"),
    "flag": pa.bool_(),
    "colour": pa.string(),
    "size": pa.string(),
    "tags": pa.list_(pa.string()),
    "part": pa.struct([("name", pa.string()), ("weight_kg", pa.float64())]),
    "parts": pa.list_(pa.struct([("name", pa.string()), ("weight_kg", pa.float64())])),
    "maybe": pa.string(),
}

PROV = Provenance(
    model_id="m", schema_name="everything", schema_fingerprint="f" * 16, extracted_at="2024-05-06T07:08:09+00:00"
)


def test_every_field_type_round_trips_through_parquet(tmp_path: Path) -> None:
    schema = load_schema(Everything)
    assert {f.name: arrow_type(f) for f in schema.fields} == EXPECTED_TYPES
    value = Everything(
        text="héllo",
        count=-3,
        ratio=0.25,
        price=Decimal("1234.5"),
        day=dt.date(2024, 2, 29),
        moment=dt.datetime(2024, 2, 29, 13, 45, 1),
        flag=True,
        colour=Colour.BLUE,
        size="m",
        tags=["a", "b"],
        part=Part(name="bolt", weight_kg=0.01),
        parts=[Part(name="nut"), Part(name="washer", weight_kg=1.5)],
    )
    records = [
        Record(source="a.pdf", status=Status.OK, doc_id="d1", kind="pdf", data=value.model_dump(), provenance=PROV),
        Record(
            source="b.pdf", status=Status.FAILED, error=ErrorInfo(Stage.PARSE, "CorruptInput", "bad"), provenance=PROV
        ),
    ]
    written = RunResult(schema, "m", records=records).write(tmp_path)
    rows_file, errors_file = written
    table = pq.read_table(rows_file, partitioning=None)
    assert table.num_rows == 1 and pq.read_table(errors_file, partitioning=None).num_rows == 1
    for name, expected in EXPECTED_TYPES.items():
        assert table.schema.field(name).type == expected, name
    row = table.to_pylist()[0]
    back = Everything.model_validate({k: row[k] for k in EXPECTED_TYPES})
    assert back == value
    assert row["price"] == Decimal("1234.50")
    assert row["source_path"] == "a.pdf" and row["doc_id"] == "d1" and row["schema_name"] == "everything"
    assert row["extracted_at"] == dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    errors = pq.read_table(errors_file, partitioning=None).to_pylist()
    assert errors == [
        {
            "source_path": "b.pdf",
            "doc_id": None,
            "doc_kind": None,
            "stage": "parse",
            "error_type": "CorruptInput",
            "message": "bad",
            "schema_name": "everything",
            "model_id": "m",
            "failed_at": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC),
            "attempts": 1,
        }
    ]
    assert not [p for p in tmp_path.rglob(".*") if p.name != "_lock"]  # no temp files left


def test_empty_tables_still_have_the_schema(tmp_path: Path) -> None:
    schema = load_schema("invoice")
    table = rows_table([], schema)
    assert table.num_rows == 0 and "line_items" in table.column_names
    assert RunResult(schema, "m").write(tmp_path) == []  # nothing to add: no empty files
    assert read_dataset(tmp_path / "invoice") is None


def test_duckdb_reads_the_output(tmp_path: Path) -> None:
    import duckdb

    schema = load_schema(Everything)
    data = Everything(
        text="x",
        count=1,
        ratio=1.0,
        price=Decimal("2.00"),
        day=dt.date(2024, 1, 1),
        moment=dt.datetime(2024, 1, 1),
        flag=False,
        colour=Colour.RED,
        size="s",
        tags=[],
        part=Part(name="p"),
        parts=[],
    ).model_dump()
    records = [
        Record(source=f"{i}.pdf", status=Status.OK, doc_id=str(i), kind="pdf", data=data, provenance=PROV)
        for i in range(3)
    ]
    result = RunResult(schema, "m", records=records)
    result.write(tmp_path)
    result.write(tmp_path)  # the same documents again replace their rows, never duplicate them
    RunResult(schema, "m", records=[replace(records[0], source="3.pdf", doc_id="3")]).write(tmp_path)
    con = duckdb.connect()
    glob = f"{tmp_path}/everything/**/*.parquet"
    total, kinds, days = con.execute(
        f"select sum(price), count(distinct colour), count(distinct run_date) from read_parquet('{glob}', "
        "hive_partitioning=true)"
    ).fetchone()
    assert total == Decimal("8.00") and kinds == 1 and days == 1
    frame = pd.read_parquet(tmp_path / "everything")  # pandas reads the dataset folder as one table
    assert sorted(frame["source_path"]) == ["0.pdf", "1.pdf", "2.pdf", "3.pdf"] and "run_date" in frame.columns
    assert not (tmp_path / "everything.errors").exists()
