"""The model card written beside a fine-tuned adapter (`card.json` + `card.md`).

It says what the adapter is for (schema name and fingerprint: a run with another schema is
refused), what it was trained from (base model and its SHA-256, data count and hash), how
(hyper-parameters, command line, time, hardware) and how well (dev score per epoch, test scores).
Written by fine-tuning, read by the runtime (which adapter serves which schema, on which base), so
it lives beside both rather than inside either.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from extractor.errors import ConfigError

CARD_JSON = "card.json"
CARD_MD = "card.md"


def read_card(folder: Path) -> dict[str, Any]:
    path = folder / CARD_JSON
    if not path.is_file():
        raise ConfigError(f"{folder} holds an adapter but no {CARD_JSON}: cannot tell which base model it needs")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
        card["schema"]["name"], card["schema"]["fingerprint"], card["base"]["model"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a valid model card: {exc}") from exc
    return card


def write_card(folder: Path, card: dict[str, Any]) -> None:
    (folder / CARD_JSON).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / CARD_MD).write_text(markdown(card), encoding="utf-8")


def markdown(card: dict[str, Any]) -> str:
    schema, base, data, training = card["schema"], card["base"], card["data"], card["training"]
    lines = [
        f"# {card['name']}",
        "",
        f"LoRA adapter for the `{schema['name']}` schema (fingerprint `{schema['fingerprint']}`), "
        f"decoding `{card['decoding']}`, on base model `{base['model_id']}` (SHA-256 `{base['sha256']}`).",
        "",
        "## Reproduce",
        "",
        "```",
        card.get("reproduce") or card["command"],
        "```",
        "",
        "## Training",
        "",
        f"- train: {data['train']['documents']} documents from `{data['train']['labels']}` "
        f"(SHA-256 `{data['train']['sha256'][:16]}`), {data['train']['examples']} examples",
        f"- dev: {data['dev']['documents']} documents evaluated after each epoch",
        f"- {training['steps']} optimiser steps, {training['epochs_run']} epochs, best epoch {training['best_epoch']}, "
        f"{training['seconds']:.0f} s on {training['hardware']}",
        "- hyper-parameters: " + ", ".join(f"{k}={v}" for k, v in card["hyperparameters"].items()),
        f"- trained {card['created']} with extractor {card['extractor_version']}",
        "",
        "## Scores",
        "",
        "| epoch | train loss | dev micro F1 | dev macro F1 |",
        "|---:|---:|---:|---:|",
    ]
    for h in training["history"]:
        lines.append(f"| {h['epoch']} | {h['train_loss']:.4f} | {h['dev_micro_f1']:.3f} | {h['dev_macro_f1']:.3f} |")
    test = card.get("test")
    if test:
        lines += [
            "",
            f"Test ({test['documents']} documents from `{test['labels']}`): micro F1 {test['micro_f1']:.3f}, "
            f"macro F1 {test['macro_f1']:.3f}, all fields correct {test['all_fields_correct']:.1%}.",
            "",
            "| field | F1 |",
            "|---|---:|",
            *(f"| {name} | {f1:.3f} |" for name, f1 in test["fields"].items()),
        ]
    return "\n".join(lines) + "\n"
