"""`extractor synth`: labelled documents on demand, so a user can start with none.

For each shipped schema a generator renders realistic documents in several layout families and
returns the ground truth with each. Documents go to `OUT/<split>/`, labels to `OUT/labels.jsonl`.
The split is by layout family, so the test split holds families never seen in training: it
measures generalisation, not memorisation. The same seed always gives the same bytes.

`augment` adds training documents of a generator's randomised layout (where it has one) after the
`n` regular ones, which stay byte for byte what they are without it.
"""

from __future__ import annotations

import importlib
import json
import os
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from extractor.errors import ConfigError

GENERATORS = {
    "invoice": "extractor.synth.invoice",
    "customer_email": "extractor.synth.customer_email",
    "project_report": "extractor.synth.project_report",
}
LABELS_FILE = "labels.jsonl"


@dataclass(frozen=True)
class Labelled:
    """One generated document and its ground truth (one line of labels.jsonl)."""

    file: str  # relative to the labels file
    schema: str
    split: str
    family: str
    fields: dict[str, Any]


def families(schema: str) -> dict[str, str]:
    """family -> split for a schema's generator."""
    return dict(_module(schema).FAMILIES)


def generate(
    schema: str,
    n: int,
    seed: int,
    out: str | os.PathLike[str],
    on_document: Callable[[Labelled], None] | None = None,
    augment: int = 0,
) -> list[Labelled]:
    """Write `n` documents (and `augment` randomised training ones) under `out`; return the labels."""
    from extractor.schema import load_schema

    module = _module(schema)
    if augment and not hasattr(module, "AUGMENT_FAMILY"):
        raise ConfigError(f"the {schema} generator has no randomised layout to augment with")
    model = load_schema(schema).model
    names = list(module.FAMILIES)
    root = Path(out)
    labelled = []
    for index in range(n + augment):
        family = names[index % len(names)] if index < n else module.AUGMENT_FAMILY
        rng = random.Random(f"{seed}:{schema}:{index}")  # str seeds are hashed with SHA-512: stable across runs
        suffix, data, fields = module.make(rng, index, family)
        model.model_validate(fields)  # a label that breaks its own schema is a generator bug
        split = module.FAMILIES.get(family, "train")
        relative = f"{split}/{schema}-{index:05d}{suffix}"
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        item = Labelled(file=relative, schema=schema, split=split, family=family, fields=fields)
        labelled.append(item)
        if on_document is not None:
            on_document(item)
    with (root / LABELS_FILE).open("w", encoding="utf-8") as f:
        for item in labelled:
            f.write(json.dumps(asdict(item), ensure_ascii=False) + "\n")
    return labelled


def _module(schema: str) -> Any:
    if schema not in GENERATORS:
        raise ConfigError(f"no generator for schema {schema!r}; available: {', '.join(GENERATORS)}")
    return importlib.import_module(GENERATORS[schema])
