"""Labelled documents -> training examples, built with the inference prompt.

A labelled set is a `labels.jsonl` (one `{"file", "fields"[, "split", "family"]}` per line, files
relative to it) or a folder holding one. When its lines carry a split, a role (train/dev/test)
takes only its own split, so one folder from `extractor synth` serves all three roles.

An example is the rendered chat prompt (the same `build_prompt` and truncation as `extractor run`)
followed by the answer the decoder would let the model write, then end-of-sequence; only the
answer tokens carry loss.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extractor.errors import ConfigError, ExtractorError
from extractor.extract.budget import TEMPLATE_SLACK_TOKENS
from extractor.extract.prompt import build_prompt, instructions
from extractor.finetune.targets import TargetStats, answer_text
from extractor.parse import parse_file
from extractor.schema import SchemaInfo

log = logging.getLogger(__name__)

IGNORE = -100  # label id that carries no loss


@dataclass(frozen=True)
class Labelled:
    path: Path
    file: str
    fields: dict[str, Any]
    family: str = ""


@dataclass(frozen=True)
class LabelledSet:
    labels_path: Path
    items: tuple[Labelled, ...]

    def gold(self) -> list[dict[str, Any]]:
        """Label lines in the form the evaluation harness reads."""
        return [{"file": i.file, "fields": i.fields, "family": i.family} for i in self.items]

    def sha256(self) -> str:
        """Hash of every document's bytes and label: what the adapter was trained on."""
        digest = hashlib.sha256()
        for item in sorted(self.items, key=lambda i: i.file):
            digest.update(item.file.encode())
            digest.update(hashlib.sha256(item.path.read_bytes()).digest())
            digest.update(json.dumps(item.fields, sort_keys=True, ensure_ascii=False).encode())
        return digest.hexdigest()


@dataclass(frozen=True)
class Example:
    file: str
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]


def load_labelled(source: str | Path, role: str, schema: SchemaInfo, limit: int = 0) -> LabelledSet:
    """The labelled documents of `source` for a role ("train", "dev", "test")."""
    path = Path(source)
    labels_path = path / "labels.jsonl" if path.is_dir() else path
    if not labels_path.is_file():
        raise ConfigError(f"no labels for {role}: {labels_path} not found")
    lines = [json.loads(line) for line in labels_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if any("split" in line for line in lines):
        lines = [line for line in lines if line.get("split") == role]
    lines = [line for line in lines if line.get("schema", schema.name) == schema.name]
    if not lines:
        raise ConfigError(f"no {role} labels for schema {schema.name!r} in {labels_path}")
    lines.sort(key=lambda line: line["file"])
    if limit:
        lines = lines[:limit]
    base = labels_path.resolve().parent
    items = []
    for line in lines:
        file_path = (base / line["file"]).resolve()  # relative to the labels file, or absolute
        if not file_path.is_file():
            raise ConfigError(f"{labels_path}: labelled document not found: {line['file']}")
        items.append(Labelled(file_path, line["file"], line["fields"], line.get("family", "")))
    return LabelledSet(labels_path, tuple(items))


def build_examples(
    labelled: LabelledSet, schema: SchemaInfo, engine: Any, max_seq_len: int, decoding: str, max_input_tokens: int
) -> tuple[list[Example], TargetStats]:
    """Tokenised examples; documents that cannot be parsed or do not fit are skipped with a warning."""
    stats = TargetStats()
    fixed = engine.count_tokens(instructions(schema)) + TEMPLATE_SLACK_TOKENS
    eos = engine.tokenizer.eos_token_id
    examples = []
    for item in labelled.items:
        try:
            doc = parse_file(item.path)
        except ExtractorError as exc:
            log.warning("%s: skipped, cannot be parsed: %s", item.file, exc)
            continue
        # Truncate as inference would, and further if the answer needs the room.
        item_stats = TargetStats()
        first = answer_text(schema, item.fields, doc.text, decoding, item_stats)
        room = min(max_input_tokens, max_seq_len - fixed - engine.count_tokens(first) - 1)
        if room < 64:
            log.warning("%s: skipped, its answer alone nearly fills max_seq_len=%d", item.file, max_seq_len)
            continue
        kept = engine.truncate(doc.text, room)
        if kept != doc.text:  # values cut off with the text can no longer be copied from it
            item_stats = TargetStats()
            answer = answer_text(schema, item.fields, kept, decoding, item_stats)
        else:
            answer = first
        stats.values += item_stats.values
        stats.not_in_document += [f"{item.file}:{path}" for path in item_stats.not_in_document]
        stats.nearest += [f"{item.file}:{path}" for path in item_stats.nearest]
        prompt = build_prompt(schema, kept, truncated=len(kept) < len(doc.text.rstrip()))
        prompt_ids = engine.prompt_ids(prompt.messages)
        answer_ids = engine.tokenizer(answer, add_special_tokens=False)["input_ids"] + [eos]
        ids = (prompt_ids + answer_ids)[:max_seq_len]
        labels = ([IGNORE] * len(prompt_ids) + answer_ids)[:max_seq_len]
        examples.append(Example(item.file, tuple(ids), tuple(labels)))
    if not examples:
        raise ConfigError(f"no usable training examples in {labelled.labels_path}")
    if stats.not_in_document:
        log.warning(
            "%d of %d label values are not printed in their document (the grounded grammar cannot produce them); "
            "they are trained on as labelled",
            len(stats.not_in_document),
            stats.values,
        )
    if stats.nearest:
        log.info(
            "%d of %d label values are printed only approximately (OCR slips, spacing); "
            "they are trained on as the printed span nearest to them",
            len(stats.nearest),
            stats.values,
        )
    return examples, stats
