"""User schemas: load them, fingerprint them, and walk them into a typed field tree.

A schema is a Pydantic model. Three are shipped in `schemas/` (installed as `extractor_schemas`);
users name their own as ``path/to/file.py:ClassName`` or ``package.module:ClassName``.

The field tree (`FieldSpec`) is the one place that reads Pydantic's type annotations. The prompt,
the generation constraint and the Arrow table schema are all derived from it, so they cannot
disagree about what a field is.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import importlib
import importlib.util
import json
import pkgutil
import re
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from extractor.errors import ConfigError

Kind = Literal["string", "integer", "number", "decimal", "date", "datetime", "boolean", "choice", "list", "object"]

# Columns the sink adds to every row; a user field with one of these names would be ambiguous.
PROVENANCE_COLUMNS = (
    "doc_id",
    "source_path",
    "doc_kind",
    "extracted_at",
    "model_id",
    "schema_name",
    "schema_fingerprint",
    "truncated",
    "chunks",
    "ocr",
    "decoding",
    "_evidence",
    "_review",
)

SHIPPED_PACKAGE = "extractor_schemas"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    nullable: bool = False
    description: str = ""
    max_length: int | None = None  # characters for strings, items for lists
    max_digits: int | None = None  # decimals
    decimal_places: int | None = None  # decimals
    choices: tuple[str, ...] = ()
    item: FieldSpec | None = None  # lists
    fields: tuple[FieldSpec, ...] = ()  # objects
    # Extractive: the value is printed in the document, so grounded decoding may only copy a span of
    # the text (dates and amounts as printed, then parsed). Abstractive: chosen or written by the
    # model (enums, booleans, summaries). Set per field with Field(json_schema_extra={"extractive": ...}).
    extractive: bool = False
    # Long documents are read in parts; a scalar found in several parts takes the most confident
    # value, unless the schema says where it usually is: "first" (e.g. an invoice number, on the first
    # page) or "last" (a grand total). Set with Field(json_schema_extra={"prefer": "first"}).
    prefer: str | None = None

    @property
    def type_label(self) -> str:
        """A short human/LLM-readable type, e.g. ``list of object`` or ``one of: a, b``."""
        if self.kind == "choice":
            return "one of: " + ", ".join(self.choices)
        if self.kind == "list" and self.item is not None:
            return f"list of {self.item.type_label}"
        if self.kind == "date":
            return "date YYYY-MM-DD"
        if self.kind == "datetime":
            return "date-time YYYY-MM-DDTHH:MM:SS"
        if self.kind == "decimal":
            return "number"
        return self.kind


@dataclass(frozen=True)
class SchemaInfo:
    """A loaded schema: its class, a stable name, a fingerprint, and its field tree."""

    name: str
    model: type[BaseModel]
    fingerprint: str
    fields: tuple[FieldSpec, ...]

    @property
    def description(self) -> str:
        return (self.model.__doc__ or "").strip()


def load_schema(spec: str | type[BaseModel]) -> SchemaInfo:
    """Resolve a shipped schema name, ``file.py:Class``, ``module:Class`` or a model class."""
    if isinstance(spec, type):
        if not issubclass(spec, BaseModel):
            raise ConfigError(f"{spec!r} is not a Pydantic model")
        return _info(_snake(spec.__name__), spec)
    if ":" in spec:
        target, _, cls_name = spec.rpartition(":")
        module = _import_file(Path(target)) if target.endswith(".py") else _import_module(target)
        model = getattr(module, cls_name, None)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ConfigError(f"{spec}: {cls_name!r} is not a Pydantic model in {target}")
        return _info(_snake(cls_name), model)
    if spec not in shipped_schema_names():
        raise ConfigError(
            f"unknown schema {spec!r}; shipped: {', '.join(shipped_schema_names())}. "
            "Name your own as path/to/file.py:ClassName or package.module:ClassName"
        )
    module = importlib.import_module(f"{SHIPPED_PACKAGE}.{spec}")
    return _info(spec, module.SCHEMA)


def shipped_schema_names() -> list[str]:
    package = importlib.import_module(SHIPPED_PACKAGE)
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))


def _info(name: str, model: type[BaseModel]) -> SchemaInfo:
    fields = walk(model)
    clash = sorted({f.name for f in fields} & set(PROVENANCE_COLUMNS))
    if clash:
        raise ConfigError(f"schema {name}: field names {clash} are reserved for provenance columns")
    # Merge hints (`prefer`) only say how the parts of a long document combine: they change neither the
    # prompt nor the constraint, so they are left out of the fingerprint (an adapter trained before a
    # hint was added still serves the schema).
    canonical = json.dumps(_without_hints(model.model_json_schema()), sort_keys=True, separators=(",", ":"))
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return SchemaInfo(name=name, model=model, fingerprint=fingerprint, fields=fields)


def _without_hints(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_hints(v) for k, v in node.items() if k != "prefer"}
    if isinstance(node, list):
        return [_without_hints(v) for v in node]
    return node


def map_leaves(
    data: dict[str, Any],
    fields: tuple[FieldSpec, ...],
    leaf: typing.Callable[[Any, FieldSpec, str], Any],
    prefix: str = "",
) -> dict[str, Any]:
    """`data` shaped by `fields` (keys in field order, missing ones None), each non-null leaf value
    replaced by `leaf(value, spec, path)`; paths read like `line_items[0].amount`."""
    return {f.name: _map_value(data.get(f.name), f, leaf, prefix + f.name) for f in fields}


def _map_value(value: Any, spec: FieldSpec, leaf: typing.Callable[[Any, FieldSpec, str], Any], path: str) -> Any:
    if value is None:
        return None
    if spec.kind == "list" and spec.item is not None:
        return [_map_value(v, spec.item, leaf, f"{path}[{i}]") for i, v in enumerate(value)]
    if spec.kind == "object":
        return map_leaves(value, spec.fields, leaf, path + ".")
    return leaf(value, spec, path)


def walk(model: type[BaseModel], _seen: tuple[type, ...] = ()) -> tuple[FieldSpec, ...]:
    """The field tree of a Pydantic model. Recursive models are refused (no bounded answer)."""
    if model in _seen:
        raise ConfigError(f"schema model {model.__name__} is recursive; extraction needs a bounded schema")
    specs = []
    for name, info in model.model_fields.items():
        spec = _spec(name, info.annotation, list(info.metadata), _seen + (model,))
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        explicit = extra.get("extractive")
        if isinstance(explicit, bool):
            spec = _with_extractive(spec, explicit)
        prefer = extra.get("prefer")
        if prefer is not None:
            if prefer not in ("first", "last"):
                raise ConfigError(f"{model.__name__}.{name}: prefer must be 'first' or 'last', not {prefer!r}")
            spec = _replace(spec, prefer=prefer)
        specs.append(_replace(spec, description=info.description or spec.description))
    return tuple(specs)


EXTRACTIVE_KINDS = frozenset({"string", "integer", "number", "decimal", "date", "datetime"})


def _with_extractive(spec: FieldSpec, extractive: bool) -> FieldSpec:
    """Mark a field (and, for a list, its items) extractive or not; objects keep their own fields' marks."""
    if spec.kind == "list" and spec.item is not None and spec.item.kind != "object":
        return _replace(spec, item=_replace(spec.item, extractive=extractive and spec.item.kind in EXTRACTIVE_KINDS))
    return _replace(spec, extractive=extractive and spec.kind in EXTRACTIVE_KINDS)


def _spec(name: str, annotation: Any, metadata: list[Any], seen: tuple[type, ...]) -> FieldSpec:
    nullable = False
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        return _spec(name, base, metadata + [m for e in extra for m in _flatten_meta(e)], seen)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        if len(args) != 1:
            raise ConfigError(f"field {name!r}: unions of several types are not supported ({annotation})")
        return _replace(_spec(name, args[0], metadata, seen), nullable=nullable)
    max_length = _constraint(metadata, "max_length")
    if origin is Literal:
        return FieldSpec(name, "choice", choices=tuple(str(a) for a in typing.get_args(annotation)))
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple):
        (item_type, *_rest) = typing.get_args(annotation) or (str,)
        return FieldSpec(name, "list", max_length=max_length, item=_spec("item", item_type, [], seen))
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return FieldSpec(name, "object", fields=walk(annotation, seen))
        if issubclass(annotation, enum.Enum):
            return FieldSpec(name, "choice", choices=tuple(str(m.value) for m in annotation))
        if issubclass(annotation, bool):
            return FieldSpec(name, "boolean")
        if issubclass(annotation, int):
            return FieldSpec(name, "integer", extractive=True)
        if issubclass(annotation, float):
            return FieldSpec(name, "number", extractive=True)
        if issubclass(annotation, decimal.Decimal):
            return FieldSpec(
                name,
                "decimal",
                extractive=True,
                max_digits=_constraint(metadata, "max_digits"),
                decimal_places=_constraint(metadata, "decimal_places"),
            )
        if issubclass(annotation, dt.datetime):
            return FieldSpec(name, "datetime", extractive=True)
        if issubclass(annotation, dt.date):
            return FieldSpec(name, "date", extractive=True)
        if issubclass(annotation, str):
            return FieldSpec(name, "string", max_length=max_length, extractive=True)
    raise ConfigError(f"field {name!r}: type {annotation!r} is not supported in extraction schemas")


def _flatten_meta(item: Any) -> list[Any]:
    # A pydantic FieldInfo inside Annotated carries its own metadata list.
    return list(getattr(item, "metadata", [])) + [item]


def _constraint(metadata: list[Any], attr: str) -> int | None:
    for item in metadata:
        value = getattr(item, attr, None)
        if value is not None:
            return int(value)
    return None


def _replace(spec: FieldSpec, **changes: Any) -> FieldSpec:
    from dataclasses import replace

    return replace(spec, **changes)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _import_module(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(f"cannot import schema module {name!r}: {exc}") from exc


def _import_file(path: Path) -> types.ModuleType:
    if not path.is_file():
        raise ConfigError(f"schema file not found: {path}")
    module_name = f"_extractor_user_schema_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load schema file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # pydantic resolves forward references through sys.modules
    spec.loader.exec_module(module)
    return module
