"""Every model a run can use here: the embedded model, the pullable and pulled ones, models a user
put in the models folder, and the shipped fine-tuned adapters with the schema each serves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from extractor.engines import registry as pullable
from extractor.engines.model_store import EMBEDDED, embedded_gguf, shipped_adapters, user_adapters
from extractor.errors import ConfigError


@dataclass(frozen=True)
class Entry:
    name: str  # what `--model` takes
    kind: str  # "embedded" | "pulled" | "pullable" | "local" | "adapter"
    installed: bool
    bytes: int | None = None
    licence: str = ""
    serves: str = ""  # an adapter's schema; "" for a model that serves any schema
    note: str = ""


def catalog() -> list[Entry]:
    entries = [_embedded()]
    pulled = pullable.registry()
    for model in sorted(pulled.values(), key=lambda m: -m.strength):
        entries.append(
            Entry(
                name=model.name,
                kind="pulled" if model.installed else "pullable",
                installed=model.installed,
                bytes=model.bytes,
                licence=model.licence,
                note=_note(model),
            )
        )
    entries.extend(_local({m.name for m in pulled.values()}))
    entries.extend(_adapters())
    return entries


def default_model() -> str:
    """What answers a schema without a shipped adapter when `--model` is not given."""
    strongest = pullable.strongest_installed()
    return strongest.name if strongest is not None else EMBEDDED


def _note(model: pullable.Pullable) -> str:
    note = model.title if model.installed else f"{model.title}; extractor models pull {model.name}"
    if model.role == "finetune":
        note += f"; never answers by default: extractor finetune --model {model.name}"
    return note


def _embedded() -> Entry:
    try:
        path = embedded_gguf()
    except ConfigError as exc:
        return Entry(EMBEDDED, "embedded", False, note=str(exc))
    return Entry(EMBEDDED, "embedded", True, path.stat().st_size, "Apache-2.0", note="SmolLM2-135M-Instruct, Q4_1")


def _local(pulled: set[str]) -> list[Entry]:
    """GGUF files and model folders a user put in the models folder themselves."""
    root = pullable.models_dir()
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or path.name in pulled:
            continue
        if path.suffix.lower() == ".gguf" and path.is_file():
            found.append(Entry(str(path), "local", True, path.stat().st_size))
        elif path.is_dir() and (path / "config.json").is_file():
            found.append(Entry(str(path), "local", True, _size(path)))
    return found


def _adapters() -> list[Entry]:
    return [
        Entry(
            str(folder),
            "adapter",
            True,
            _size(folder),
            serves=card["schema"]["name"],
            note=f"{whose} on {card['base']['model']}",
        )
        for whose, adapters in (("yours,", user_adapters()), ("shipped,", shipped_adapters()))
        for folder, card in adapters
    ]


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
