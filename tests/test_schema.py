from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from extractor.errors import ConfigError
from extractor.extract.constraint import generation_schema
from extractor.schema import load_schema, shipped_schema_names


def test_shipped_schemas_load() -> None:
    assert shipped_schema_names() == ["customer_email", "invoice", "project_report"]
    invoice = load_schema("invoice")
    assert invoice.name == "invoice" and len(invoice.fingerprint) == 16
    kinds = {f.name: f.kind for f in invoice.fields}
    assert kinds["total"] == "decimal" and kinds["invoice_date"] == "date" and kinds["line_items"] == "list"
    line_items = next(f for f in invoice.fields if f.name == "line_items")
    assert line_items.item is not None and line_items.item.kind == "object" and line_items.max_length == 20


def test_user_schema_from_file_and_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = "from pydantic import BaseModel\nclass PurchaseOrder(BaseModel):\n    po_number: str | None = None\n"
    (tmp_path / "po.py").write_text(source)
    from_file = load_schema(f"{tmp_path / 'po.py'}:PurchaseOrder")
    assert from_file.name == "purchase_order" and [f.name for f in from_file.fields] == ["po_number"]
    monkeypatch.syspath_prepend(str(tmp_path))
    from_module = load_schema("po:PurchaseOrder")
    assert from_module.fingerprint == from_file.fingerprint


def test_fingerprint_changes_with_the_schema() -> None:
    class A(BaseModel):
        x: str

    class B(BaseModel):
        x: int

    assert load_schema(A).fingerprint != load_schema(B).fingerprint
    assert load_schema(A).fingerprint == load_schema(A).fingerprint


@pytest.mark.parametrize("spec", ["nope", "missing_file.py:X", "no.such.module:X", "json:loads"])
def test_bad_schema_specs_are_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError):
        load_schema(spec)


def test_reserved_and_recursive_schemas_are_refused() -> None:
    class Clash(BaseModel):
        doc_id: str

    class Node(BaseModel):
        child: Node | None = None

    with pytest.raises(ConfigError, match="reserved"):
        load_schema(Clash)
    with pytest.raises(ConfigError, match="recursive"):
        load_schema(Node)


def test_generation_schema_is_closed_and_bounded() -> None:
    schema = generation_schema(load_schema("invoice"))
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(schema["properties"])
    items = schema["properties"]["line_items"]
    assert items["maxItems"] == 20
    assert items["items"]["additionalProperties"] is False
    number = schema["properties"]["total"]["anyOf"][0]  # Decimal(max_digits=14, decimal_places=2)
    assert number == {"type": "number", "minimum": -(10**12 - 1), "maximum": 10**12 - 1, "multipleOf": 0.01}

    def walk(node: object) -> None:  # every string in every schema is bounded or patterned
        if isinstance(node, dict):
            if node.get("type") == "string":
                assert {"maxLength", "pattern", "format", "enum"} & set(node), node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for name in shipped_schema_names():
        walk(generation_schema(load_schema(name)))
    json.dumps(schema)  # serialisable as-is
