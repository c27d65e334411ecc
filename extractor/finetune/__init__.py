"""`extractor finetune`: a LoRA adapter for one schema, trained on the user's labelled documents.

    labelled docs -> examples (inference prompt + decoder-shaped answer) -> LoRA loop (dev F1 per
    epoch, best kept, early stop, resumable) -> adapter + model card [-> test scores on the card]

The output folder loads with `extractor run --model FOLDER` (base + adapter, merged).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from extractor.cards import read_card, write_card
from extractor.errors import ConfigError
from extractor.finetune.config import FinetuneConfig
from extractor.finetune.data import build_examples, load_labelled
from extractor.finetune.trainer import LoraTrainer, Progress
from extractor.schema import SchemaInfo, load_schema

__all__ = ["FinetuneConfig", "Progress", "finetune", "read_card"]

log = logging.getLogger(__name__)


def finetune(
    schema: str | SchemaInfo,
    train: str | Path,
    dev: str | Path | None = None,
    out: str | Path | None = None,
    *,
    unreviewed_above: float | None = None,
    model: str | None = None,
    test: str | Path | None = None,
    config: FinetuneConfig | None = None,
    device: str = "auto",
    command: str = "",
    reproduce: str = "",
    on_progress: Callable[[Progress], None] | None = None,
    stop_after_steps: int | None = None,
) -> dict[str, Any]:
    """Train, keep the best epoch's adapter in `out`, write its card; return the card.

    `train` may be a folder written by `extractor label`: its reviewed labels are used (and its
    unreviewed ones the teacher was at least `unreviewed_above` sure of), a share held out as dev
    when `dev` is not given. `out` defaults to a folder in `adapters_dir()`, where `extractor run`
    finds the adapter for this schema without being told.
    """
    from extractor.engines.model_store import EMBEDDED, adapter_folder, resolve_model, weights_sha256
    from extractor.engines.transformers import TransformersEngine
    from extractor.labels.training import is_label_folder, training_split

    config = config or FinetuneConfig()
    schema_info = schema if isinstance(schema, SchemaInfo) else load_schema(schema)
    out_dir = Path(out) if out is not None else adapter_folder(schema_info.name, schema_info.fingerprint)
    base = resolve_model(model)
    if base.adapter is not None:
        raise ConfigError(f"{model} is a fine-tuned adapter; fine-tune from its base model instead")
    labels: dict[str, Any] | None = None
    if is_label_folder(Path(train)):
        split = training_split(Path(train), schema_info, unreviewed_above)
        train, dev, labels = split.path, dev or split.path, split.provenance
    elif unreviewed_above is not None:
        raise ConfigError("--unreviewed-above is for a labels folder written by `extractor label`")
    if dev is None:
        raise ConfigError("--dev is needed unless --train is a labels folder written by `extractor label`")
    train_set = load_labelled(train, "train", schema_info)
    dev_set = load_labelled(dev, "dev", schema_info, limit=config.dev_limit)
    started = time.perf_counter()
    engine = TransformersEngine(source=base, device=device)
    examples, stats = build_examples(
        train_set, schema_info, engine, config.max_seq_len, config.decoding, max_input_tokens=config.max_seq_len
    )
    base_sha = weights_sha256(base)
    train_sha = train_set.sha256()
    resume_key = hashlib.sha256(
        json.dumps([config.training_key(), train_sha, base_sha, schema_info.fingerprint]).encode()
    ).hexdigest()
    log.info(
        "%d training examples (%d documents); %d dev documents", len(examples), len(train_set.items), len(dev_set.items)
    )
    trainer = LoraTrainer(engine, schema_info, config, examples, dev_set, out_dir, resume_key, on_progress)
    state = trainer.train(stop_after_steps=stop_after_steps)
    seconds = time.perf_counter() - started

    card: dict[str, Any] = {
        "name": out_dir.resolve().name,
        "kind": "lora-adapter",
        "schema": {"name": schema_info.name, "fingerprint": schema_info.fingerprint},
        "decoding": config.decoding,
        "base": {"model": EMBEDDED if model is None else str(model), "model_id": base.model_id, "sha256": base_sha},
        "data": {
            "train": {
                "labels": str(train_set.labels_path),
                "documents": len(train_set.items),
                "examples": len(examples),
                "sha256": train_sha,
                "values_not_printed": len(stats.not_in_document),
                "values_printed_approximately": len(stats.nearest),
            },
            "dev": {"labels": str(dev_set.labels_path), "documents": len(dev_set.items), "sha256": dev_set.sha256()},
            **({"labelled": labels} if labels is not None else {}),
        },
        "hyperparameters": config.model_dump(mode="json"),
        "training": {
            "steps": state.step,
            "epochs_run": len(state.history),
            "best_epoch": state.best_epoch,
            "best_dev_micro_f1": state.best_score,
            "history": state.history,
            "seconds": round(seconds, 1),
            "hardware": _hardware(engine.device),
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "extractor_version": _version(),
        "command": command,
        "reproduce": reproduce or command,
    }
    write_card(out_dir, card)
    trainer.clear_checkpoints()
    if test is not None:
        card["test"] = evaluate_adapter(out_dir, test, config, device, schema_info)
        write_card(out_dir, card)
    return card


def evaluate_adapter(
    folder: Path, test: str | Path, config: FinetuneConfig, device: str = "auto", schema: SchemaInfo | None = None
) -> dict[str, Any]:
    """Test scores of a saved adapter, loaded the way `extractor run --model` loads it (`schema`:
    the schema it serves, when it is not a shipped one)."""
    from extractor.config import RunConfig
    from extractor.engines.transformers import TransformersEngine
    from extractor.evaluation import score_rows
    from extractor.pipeline import discover, run

    card = read_card(folder)
    schema_info = schema or load_schema(card["schema"]["name"])
    test_set = load_labelled(test, "test", schema_info)
    engine = TransformersEngine(str(folder), device=device)
    run_config = RunConfig(decoding=config.decoding, max_new_tokens=config.max_new_tokens)
    result = run(discover([i.path for i in test_set.items]), schema_info, engine, run_config)
    errors = [e["source_path"] for e in result.errors_table().to_pylist()]
    scores = score_rows(
        result.rows_table().to_pylist(), errors, test_set.gold(), test_set.labels_path.resolve().parent, schema_info
    )
    return {
        "labels": str(test_set.labels_path),
        "documents": scores.documents,
        "micro_f1": round(scores.micro_f1, 4),
        "macro_f1": round(scores.macro_f1, 4),
        "all_fields_correct": round(scores.all_correct_rate, 4),
        "fields": {name: round(f.f1, 4) for name, f in scores.fields.items()},
    }


def _hardware(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores"


def _version() -> str:
    try:
        return version("extractor")
    except Exception:  # not installed (a source checkout on sys.path)
        return "unknown"
