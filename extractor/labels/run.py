"""`extractor label`: a teacher model labels a diverse sample of the user's own documents.

The sample is drawn from every cluster of the inputs before a second document of the same
(sample.py); the teacher extracts it as a nightly job into `OUT/teacher/` (grounded decoding,
evidence and confidence; documents that fail are error rows there, never labels), and each good
row becomes a label in `OUT/labels.jsonl` with its document text in `OUT/documents/` (store.py).
Rerunning adds labels up to `n`, never duplicates one, and never replaces a reviewed one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor.config import RunConfig
from extractor.errors import ConfigError
from extractor.inputs import Discovery, discover
from extractor.job import Job, OnRecord
from extractor.labels.sample import Candidate, candidate, clusters, diverse_order
from extractor.labels.store import Label, now, read_labels, validate_fields, write_labels, write_text
from extractor.pipeline import RunResult, execute
from extractor.schema import SchemaInfo
from extractor.sink.store import Plan
from extractor.types import Document

log = logging.getLogger("extractor.label")

TEACHER_RUN = "teacher"  # OUT/teacher/: the teacher's rows, error rows and ledger


@dataclass
class LabelResult:
    """What a label run found and added."""

    folder: Path
    candidates: int = 0  # documents parsed and clustered
    clusters: int = 0
    clusters_covered: int = 0  # clusters with at least one label after this run
    picked: int = 0  # documents sent to the teacher this run
    added: int = 0
    labels: int = 0  # in the folder after this run
    reviewed: int = 0
    dropped: int = 0  # labels of an older schema version dropped by --relabel
    not_parsed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    run: RunResult | None = None


def label(
    inputs: Iterable[str | os.PathLike[str]],
    schema: SchemaInfo,
    out: str | os.PathLike[str],
    *,
    n: int = 200,
    teacher: str | None = None,
    engine: str = "auto",
    config: RunConfig | None = None,
    seed: int = 0,
    relabel: bool = False,
    max_candidates: int = 5000,
    on_parsed: Callable[[int, int], None] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    on_record: OnRecord | None = None,
    command: str = "",
) -> LabelResult:
    """Label up to `n` documents of `inputs` with `teacher` (default: the strongest pulled model)
    into the folder `out`. `on_parsed(done, total)` reports the parse of the candidates."""
    folder = Path(out)
    config = config or RunConfig()
    result = LabelResult(folder)
    labels, result.dropped = _current_labels(folder, schema, relabel)
    teacher = teacher or _strongest_teacher()
    job = Job.build([], schema, model=teacher, engine=engine, config=config)  # fails fast on a bad teacher

    discovery = discover(inputs)
    files = list(discovery.files)
    if len(files) > max_candidates:
        files = sorted(random.Random(seed).sample(files, max_candidates))
    staging = folder / ".candidates"  # every candidate's text until the sample is drawn: not in memory
    try:
        candidates, failed = _parse_candidates(files, config, staging, on_parsed)
        picks, grouped = _sample(candidates, labels, n, seed)
        for _, c in picks:
            write_text(folder, c.doc_id, (staging / f"{c.doc_id}.txt").read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result.candidates, result.not_parsed, result.clusters = len(candidates), failed, len(grouped)
    cluster_of = {c.doc_id: name for name, members in grouped.items() for c in members}
    result.picked = len(picks)

    # Files that did not parse go to the teacher's run too, to be error rows there like in any run.
    work = Discovery(tuple(c.path for _, c in picks) + tuple(Path(f) for f, _ in failed), discovery.missing)
    job = dataclasses.replace(job, inputs=work, out=folder / TEACHER_RUN, command=command)
    result.run = execute(job, on_plan=on_plan, on_record=on_record)
    wanted = {c.doc_id for _, c in picks}
    for row in _teacher_rows(folder, schema, wanted - set(labels)):
        doc_id = str(row["doc_id"])
        labels[doc_id] = _label_of(row, schema, folder, job.engine.model_id, cluster_of.get(doc_id, ""))
        result.added += 1
    write_labels(folder, labels.values())
    result.labels, result.reviewed = len(labels), sum(label.reviewed for label in labels.values())
    result.clusters_covered = sum(any(c.doc_id in labels for c in members) for members in grouped.values())
    return result


def _current_labels(folder: Path, schema: SchemaInfo, relabel: bool) -> tuple[dict[str, Label], int]:
    """The folder's labels for this schema version. An older version's labels are an error that
    names `--relabel`; with it, reviewed labels still valid under the schema are kept (their values
    checked again) and the rest dropped to be labelled again."""
    labels = read_labels(folder)
    stale = {k: v for k, v in labels.items() if (v.schema, v.schema_fingerprint) != (schema.name, schema.fingerprint)}
    if not stale:
        return labels, 0
    if not relabel:
        raise ConfigError(
            f"{len(stale)} of {len(labels)} labels in {folder} were made for another version of schema "
            f"{schema.name!r} (fingerprint {next(iter(stale.values())).schema_fingerprint}, now {schema.fingerprint}); "
            "rerun with --relabel to label them again (reviewed labels that still validate are kept)"
        )
    kept = {k: v for k, v in labels.items() if k not in stale}
    for doc_id, old in stale.items():
        if not old.reviewed:
            continue
        try:
            fields = validate_fields(old.fields, schema, "")
        except ConfigError:
            continue
        kept[doc_id] = dataclasses.replace(
            old, fields=fields, schema=schema.name, schema_fingerprint=schema.fingerprint
        )
    return kept, len(labels) - len(kept)


def _strongest_teacher() -> str:
    from extractor.engines.registry import strongest_installed

    strongest = strongest_installed()
    if strongest is None:
        raise ConfigError(
            "no teacher model: pull one (`extractor models pull qwen2.5-coder-1.5b`) or name one with --model"
        )
    return strongest.name


def _sample(
    candidates: list[Candidate], labels: dict[str, Label], n: int, seed: int
) -> tuple[list[tuple[str, Candidate]], dict[str, list[Candidate]]]:
    """The documents to label now (cluster, candidate), up to `n` labels in all, and the clusters."""
    grouped = clusters(candidates)
    order = diverse_order(grouped, seed, labelled=set(labels))
    return order[: max(0, n - len(labels))], grouped


def _parse_candidates(
    files: list[Path], config: RunConfig, staging: Path, on_parsed: Callable[[int, int], None] | None
) -> tuple[list[Candidate], list[tuple[str, str]]]:
    """Parse every file once: candidates (one per distinct content; their texts into `staging`),
    and the files that failed with why."""
    from extractor.parse.pool import parse_files

    staging.mkdir(parents=True, exist_ok=True)
    candidates: list[Candidate] = []
    seen: set[str] = set()
    failed: list[tuple[str, str]] = []

    def take(path: Path, doc: Document | None, error: Exception | None) -> None:
        if doc is None:
            failed.append((str(path), f"{type(error).__name__}: {error}"))
        elif doc.doc_id not in seen:
            seen.add(doc.doc_id)
            write_text(staging.parent, doc.doc_id, doc.text, under=staging.name)
            candidates.append(candidate(path, doc))

    with parse_files(files, config.limits, config.parse_workers) as parsed_files:
        for i, parsed in enumerate(parsed_files, start=1):
            take(parsed.path, parsed.document, parsed.error)
            if on_parsed:
                on_parsed(i, len(files))
    return candidates, failed


def _teacher_rows(folder: Path, schema: SchemaInfo, doc_ids: set[str]) -> list[dict[str, Any]]:
    """The teacher's committed rows for these documents (this run's, or an earlier run's)."""
    from extractor.sink.dataset import ROWS
    from extractor.sink.views import read_live

    if not doc_ids:
        return []
    table = read_live(folder / TEACHER_RUN, schema.name, ROWS)
    if table is None:
        return []
    return [row for row in table.to_pylist() if row["doc_id"] in doc_ids]


def _label_of(row: dict[str, Any], schema: SchemaInfo, folder: Path, teacher: str, cluster: str) -> Label:
    fields = validate_fields({f.name: row[f.name] for f in schema.fields}, schema, str(row["source_path"]))
    evidence = [
        {k: e[k] for k in ("field", "start", "end", "confidence", "grounded", "match", "page")}
        for e in row.get("_evidence") or []
    ]
    confidence: dict[str, float | None] = {}  # per top-level field: its least sure value
    for e in evidence:
        top = str(e["field"]).split("[")[0].split(".")[0]
        known = [c for c in (confidence.get(top), e["confidence"]) if c is not None]
        confidence[top] = min(known) if known else None
    return Label(
        file=os.path.relpath(os.path.abspath(row["source_path"]), os.path.abspath(folder)),
        doc_id=str(row["doc_id"]),
        schema=schema.name,
        schema_fingerprint=schema.fingerprint,
        fields=fields,
        confidence=confidence,
        evidence=evidence,
        teacher=teacher,
        cluster=cluster,
        labelled_at=now(),
    )
