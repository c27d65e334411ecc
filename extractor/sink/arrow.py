"""Records -> Arrow tables, typed from the schema's field tree.

str -> string, int -> int64, float -> float64, Decimal -> decimal128(p, s), date -> date32,
datetime -> timestamp[us], bool -> bool, enums/Literals -> string, lists -> list,
nested models -> struct; every field is nullable (a failed or absent value is null).
`_evidence` holds, per extracted value, its span in the text (offsets, page, how it matched,
whether it was found at all) and the model's confidence in it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import pyarrow as pa

from extractor.schema import FieldSpec, SchemaInfo
from extractor.types import Record, Status

DEFAULT_DECIMAL = (38, 9)

_LEADING = [pa.field("source_path", pa.string(), nullable=False), pa.field("doc_id", pa.string())]
_TRAILING = [
    pa.field("doc_kind", pa.string()),
    pa.field("extracted_at", pa.timestamp("us", tz="UTC")),
    pa.field("model_id", pa.string()),
    pa.field("schema_name", pa.string()),
    pa.field("schema_fingerprint", pa.string()),
    pa.field("truncated", pa.bool_()),
    pa.field("chunks", pa.int32()),
    pa.field("ocr", pa.bool_()),
    pa.field("decoding", pa.string()),
    pa.field(
        "_evidence",
        pa.list_(
            pa.struct(
                [
                    pa.field("field", pa.string()),
                    pa.field("text", pa.string()),
                    pa.field("start", pa.int64()),
                    pa.field("end", pa.int64()),
                    pa.field("page", pa.int32()),
                    pa.field("origin", pa.string()),
                    pa.field("note", pa.string()),
                    pa.field("match", pa.string()),
                    pa.field("grounded", pa.bool_()),
                    pa.field("confidence", pa.float64()),
                ]
            )
        ),
    ),
    # Why a person should check this row first (--min-confidence): empty when nothing is doubtful.
    pa.field("_review", pa.list_(pa.string())),
]

ERRORS_SCHEMA = pa.schema(
    [
        pa.field("source_path", pa.string(), nullable=False),
        pa.field("doc_id", pa.string()),
        pa.field("doc_kind", pa.string()),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("error_type", pa.string(), nullable=False),
        pa.field("message", pa.string(), nullable=False),
        pa.field("schema_name", pa.string()),
        pa.field("model_id", pa.string()),
        pa.field("failed_at", pa.timestamp("us", tz="UTC")),
        pa.field("attempts", pa.int32()),
    ]
)


def arrow_type(spec: FieldSpec) -> pa.DataType:
    kind = spec.kind
    if kind in ("string", "choice"):
        return pa.string()
    if kind == "integer":
        return pa.int64()
    if kind == "number":
        return pa.float64()
    if kind == "decimal":
        precision = spec.max_digits or DEFAULT_DECIMAL[0]
        scale = spec.decimal_places if spec.decimal_places is not None else DEFAULT_DECIMAL[1]
        return pa.decimal128(max(precision, scale, 1), scale)
    if kind == "date":
        return pa.date32()
    if kind == "datetime":
        return pa.timestamp("us")
    if kind == "boolean":
        return pa.bool_()
    if kind == "list":
        assert spec.item is not None
        return pa.list_(arrow_type(spec.item))
    if kind == "object":
        return pa.struct([pa.field(f.name, arrow_type(f)) for f in spec.fields])
    raise AssertionError(f"unhandled field kind {kind}")


def rows_schema(schema: SchemaInfo) -> pa.Schema:
    fields = [pa.field(f.name, arrow_type(f)) for f in schema.fields]
    metadata = {"extractor.schema_name": schema.name, "extractor.schema_fingerprint": schema.fingerprint}
    return pa.schema(_LEADING + fields + _TRAILING, metadata=metadata)


def rows_table(records: Iterable[Record], schema: SchemaInfo) -> pa.Table:
    """One row per successful record."""
    rows = []
    for record in records:
        if record.status is not Status.OK or record.data is None:
            continue
        p = record.provenance
        row: dict[str, Any] = {"source_path": record.source, "doc_id": record.doc_id}
        row.update({f.name: _value(f, record.data.get(f.name)) for f in schema.fields})
        row.update(
            {
                "doc_kind": record.kind,
                "extracted_at": _timestamp(p.extracted_at) if p else None,
                "model_id": p.model_id if p else None,
                "schema_name": schema.name,
                "schema_fingerprint": schema.fingerprint,
                "truncated": p.truncated if p else None,
                "chunks": p.chunks if p else None,
                "ocr": record.ocr,
                "decoding": p.decoding if p else None,
                "_evidence": [asdict(e) for e in record.evidence],
                "_review": list(record.review),
            }
        )
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=rows_schema(schema))


def errors_table(records: Iterable[Record], attempts: Sequence[int] | None = None) -> pa.Table:
    """One row per failed record; `attempts` (one per failed record, in order) counts the tries
    an incremental output has made on it."""
    rows = []
    failed = [r for r in records if r.status is not Status.OK]
    for n, record in enumerate(failed):
        assert record.error is not None
        p = record.provenance
        rows.append(
            {
                "source_path": record.source,
                "doc_id": record.doc_id,
                "doc_kind": record.kind,
                "stage": record.error.stage.value,
                "error_type": record.error.type,
                "message": record.error.message,
                "schema_name": p.schema_name if p else None,
                "model_id": p.model_id if p else None,
                "failed_at": _timestamp(p.extracted_at) if p else None,
                "attempts": attempts[n] if attempts is not None else 1,
            }
        )
    return pa.Table.from_pylist(rows, schema=ERRORS_SCHEMA)


def _value(spec: FieldSpec, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        value = value.value
    if spec.kind == "decimal":
        scale = spec.decimal_places if spec.decimal_places is not None else DEFAULT_DECIMAL[1]
        return decimal.Decimal(value).quantize(decimal.Decimal(1).scaleb(-scale))
    if spec.kind == "list":
        assert spec.item is not None
        return [_value(spec.item, v) for v in value]
    if spec.kind == "object":
        assert isinstance(value, Mapping)
        return {f.name: _value(f, value.get(f.name)) for f in spec.fields}
    if spec.kind in ("string", "choice"):
        return str(value)
    return value


def _timestamp(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso)
