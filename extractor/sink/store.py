"""An output folder that nightly runs add to: lock, ledger and Parquet datasets together.

The order of every change is what makes a kill at any moment harmless:

1. a part file is written under a temporary name, fsynced and renamed into place;
2. one ledger transaction registers it and points its items at it (their older rows go dead);
3. files holding dead rows are rewritten without them (again: temporary file, fsync, rename).

At the start of each run (`recover`) temporary files are deleted, files the ledger does not know
(step 1 done, step 2 not) are deleted — their items were never recorded, so they are processed
again — and unfinished rewrites (step 3) are finished. So after any kill and a rerun, every input
is in the datasets exactly once.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from extractor.schema import SchemaInfo
from extractor.sink.arrow import errors_table, rows_table
from extractor.sink.dataset import (
    ERRORS,
    ROWS,
    data_files,
    dataset_dir,
    item_key,
    merge_files,
    prune_empty_dirs,
    rewrite,
    temp_files,
    write_file,
)
from extractor.sink.ledger import Item, Ledger, NewFile, Outcome
from extractor.sink.lock import OutputLock
from extractor.types import Record

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """What a run will do with its inputs."""

    todo: list[Path] = field(default_factory=list)  # files to parse and extract
    key_of: dict[str, str] = field(default_factory=dict)  # source path -> item key
    unchanged: int = 0  # done before with the same schema and model
    exhausted: int = 0  # failed before, out of attempts: their error rows stay
    duplicates: int = 0  # same content as another input of this run
    moved: dict[str, str] = field(default_factory=dict)  # item key -> new path
    retired: set[str] = field(default_factory=set)  # items whose path now holds other content

    @property
    def skipped(self) -> int:
        return self.unchanged + self.exhausted + self.duplicates


@dataclass(frozen=True)
class Recovery:
    temp_files: int = 0
    orphans: int = 0
    lost_files: int = 0
    rewritten: int = 0

    def __bool__(self) -> bool:
        return any((self.temp_files, self.orphans, self.lost_files, self.rewritten))


@dataclass(frozen=True)
class Compaction:
    partitions: int
    files_before: int
    files_after: int
    rows: int


class OutputStore:
    """`with OutputStore(out) as store:` holds the folder's lock and has recovered it."""

    def __init__(self, out_dir: str | os.PathLike[str]):
        self.out = Path(out_dir)
        self.lock = OutputLock(self.out)
        self._ledger: Ledger | None = None
        self.recovery = Recovery()
        self._seq = 0

    @property
    def ledger(self) -> Ledger:
        assert self._ledger is not None, "use OutputStore as a context manager"
        return self._ledger

    def __enter__(self) -> OutputStore:
        self.lock.acquire()
        try:
            self._ledger = Ledger(self.out)
            self.recovery = self.recover()
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ledger is not None:
            self._ledger.close()
        self.lock.release()

    # recovery -----------------------------------------------------------------------------

    def recover(self) -> Recovery:
        temps = temp_files(self.out)
        for path in temps:
            path.unlink(missing_ok=True)
        known = self.ledger.files()
        on_disk = {str(p.relative_to(self.out)) for p in data_files(self.out)}
        orphans = sorted(on_disk - set(known))
        for rel in orphans:
            (self.out / rel).unlink()
        lost = sorted(set(known) - on_disk)
        lost_items = self.ledger.forget_files(lost)
        rewritten = self.clean()
        prune_empty_dirs(self.out)
        recovery = Recovery(len(temps), len(orphans), len(lost), rewritten)
        if temps or orphans:
            log.warning(
                "recovered %s from an interrupted run: removed %d temporary and %d unrecorded data files "
                "(their documents are processed again)",
                self.out,
                len(temps),
                len(orphans),
            )
        if lost:
            log.warning(
                "%d data files recorded in the ledger are gone from %s; their %d documents will be extracted again",
                len(lost),
                self.out,
                lost_items,
            )
        return recovery

    def clean(self) -> int:
        """Rewrite the files that hold dead rows; return how many."""
        dirty = self.ledger.dirty_files()
        for rel in dirty:
            path = self.out / rel
            live = self.ledger.live(rel)
            rows = rewrite(path, live) if path.exists() else 0
            self.ledger.file_rewritten(rel, rows)
        return len(dirty)

    # planning -----------------------------------------------------------------------------

    def plan(
        self,
        files: Sequence[Path],
        missing: Sequence[tuple[str, str]],
        schema: SchemaInfo,
        model_fingerprint: str,
        *,
        full: bool,
        max_attempts: int,
        run_id: int,
    ) -> Plan:
        """Decide which inputs to process: new or changed content, a new (schema, model) pair,
        failures with attempts left, or everything with `full`."""
        items = self.ledger.items(schema.name)
        seen = self.ledger.sources(schema.name)
        plan = Plan()
        sources: list[tuple[str, int | None, int | None, str]] = []
        paths_of: dict[str, list[str]] = defaultdict(list)
        old_keys: set[str] = set()
        for path in files:
            source = str(path)
            size, mtime_ns, doc_id = _identify(path, seen.get(source))
            key = item_key(doc_id, source)
            sources.append((source, size, mtime_ns, key))
            if source in seen and seen[source][2] != key:
                old_keys.add(seen[source][2])  # this path held other content before
            paths_of[key].append(source)
            plan.key_of[source] = key
            if len(paths_of[key]) > 1:
                plan.duplicates += 1
                continue
            if full or _needs_work(items.get(key), schema.fingerprint, model_fingerprint, max_attempts):
                plan.todo.append(path)
            elif items[key].status == "ok":
                plan.unchanged += 1
            else:
                plan.exhausted += 1
        for source, _reason in missing:
            key = item_key(None, source)
            plan.key_of[source] = key
            paths_of[key].append(source)
        # An input that failed discovery earlier (an empty folder, a glob matching nothing) and
        # now matches files is resolved: its error row goes.
        for key, item in items.items():
            if key.startswith("path:") and item.source_path not in plan.key_of and _covers(item.source_path, files):
                old_keys.add(key)
        plan.retired = {k for k in old_keys if k in items and k not in paths_of}
        for key, paths in paths_of.items():
            item = items.get(key)
            if item is not None and not key.startswith("path:") and item.source_path not in paths:
                plan.moved[key] = paths[0]
        queue = [(plan.key_of[str(p)], str(p)) for p in plan.todo] + [(plan.key_of[s], s) for s, _ in missing]
        self.ledger.save_plan(schema.name, run_id, sources, queue)
        if plan.retired:
            self.ledger.retire(schema.name, plan.retired)
        if plan.moved:
            self.ledger.move(schema.name, plan.moved)
        if plan.retired or plan.moved:
            self.clean()
        return plan

    # commits ------------------------------------------------------------------------------

    def commit(
        self,
        records: Sequence[Record],
        schema: SchemaInfo,
        model_fingerprint: str,
        run_id: int,
        run_date: date,
        key_of: dict[str, str] | None = None,
    ) -> list[Path]:
        """Make `records` durable: part files first, then the ledger, then clean older files."""
        if not records:
            return []
        key_of = key_of or {}
        keyed = [_with_doc_id(r, key_of.get(r.source)) for r in records]
        keys = [item_key(r.doc_id, r.source) for r in keyed]
        before = self.ledger.items(schema.name, keys)
        attempts = {k: _attempts(before.get(k), schema.fingerprint, model_fingerprint) for k in keys}
        self._seq += 1
        name = f"part-{run_id:06d}-{self._seq:04d}.parquet"
        partition = f"run_date={run_date.isoformat()}"
        failed_attempts = [attempts[k] for k, r in zip(keys, keyed, strict=True) if not r.ok]
        tables = {ROWS: rows_table(keyed, schema), ERRORS: errors_table(keyed, failed_attempts)}
        new_files: list[NewFile] = []
        file_of: dict[str, str] = {}
        for kind, table in tables.items():
            if table.num_rows == 0:
                continue
            path = dataset_dir(self.out, schema.name, kind) / partition / name
            write_file(table, path)
            rel = str(path.relative_to(self.out))
            new_files.append(NewFile(rel, kind, table.num_rows))
            file_of.update((k, rel) for k, r in zip(keys, keyed, strict=True) if r.ok == (kind == ROWS))
        outcomes = [
            Outcome(
                key=key,
                doc_id=r.doc_id,
                source_path=r.source,
                ok=r.ok,
                attempts=attempts[key],
                data_file=file_of[key],
                error_stage=r.error.stage.value if r.error else None,
                error_type=r.error.type if r.error else None,
                error_message=r.error.message if r.error else None,
            )
            for key, r in zip(keys, keyed, strict=True)
        ]
        self.ledger.commit(schema.name, schema.fingerprint, model_fingerprint, run_id, new_files, outcomes)
        self.clean()
        return [self.out / f.path for f in new_files]

    # compaction ---------------------------------------------------------------------------

    def compact(self, run_id: int, max_rows_per_file: int = 1_000_000) -> Compaction:
        """Merge each partition's files into as few files as the row limit allows; rows unchanged."""
        self.clean()
        groups: dict[tuple[str, str, str], list[tuple[str, int]]] = defaultdict(list)
        for rel, (schema_name, kind, rows, _dirty) in sorted(self.ledger.files().items()):
            groups[(schema_name, kind, str(Path(rel).parent))].append((rel, rows))
        before = sum(len(g) for g in groups.values())
        merged_partitions, total_rows, seq = 0, 0, 0
        for (schema_name, kind, partition), members in sorted(groups.items()):
            total_rows += sum(n for _, n in members)
            for batch in _batches(members, max_rows_per_file):
                if len(batch) < 2:
                    continue
                seq += 1
                target = self.out / partition / f"compact-{run_id:06d}-{seq:04d}.parquet"
                rows = merge_files((self.out / rel for rel, _ in batch), target)
                self.ledger.replace_files(
                    [rel for rel, _ in batch],
                    NewFile(str(target.relative_to(self.out)), kind, rows),
                    schema_name,
                    run_id,
                )
                for rel, _ in batch:
                    (self.out / rel).unlink(missing_ok=True)
                merged_partitions += 1
        after = len(self.ledger.files())
        return Compaction(merged_partitions, before, after, total_rows)


def _identify(path: Path, seen: tuple[int | None, int | None, str] | None) -> tuple[int | None, int | None, str | None]:
    """(size, mtime_ns, content hash); the hash is reused when size and mtime are unchanged.
    An unreadable file has no hash: it is keyed by its path."""
    try:
        st = path.stat()
    except OSError:
        return None, None, None
    if seen is not None and seen[0] == st.st_size and seen[1] == st.st_mtime_ns and not seen[2].startswith("path:"):
        return st.st_size, st.st_mtime_ns, seen[2]
    try:
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return st.st_size, st.st_mtime_ns, None
    return st.st_size, st.st_mtime_ns, digest


def _needs_work(item: Item | None, schema_fp: str, model_fp: str, max_attempts: int) -> bool:
    if item is None or item.schema_fingerprint != schema_fp or item.model_fingerprint != model_fp:
        return True
    return item.status == "failed" and item.attempts < max_attempts


def _attempts(item: Item | None, schema_fp: str, model_fp: str) -> int:
    same = item is not None and item.schema_fingerprint == schema_fp and item.model_fingerprint == model_fp
    return item.attempts + 1 if same and item is not None and item.status == "failed" else 1


def _covers(source: str, files: Sequence[Path]) -> bool:
    """Whether an input text (folder or glob) that matched nothing before matches one of `files` now."""
    import fnmatch

    for path in files:
        text = str(path)
        if text.startswith(source.rstrip("/") + "/") or fnmatch.fnmatch(text, source):
            return True
    return False


def _with_doc_id(record: Record, key: str | None) -> Record:
    """A file that failed before it was read carries the hash the plan computed for it."""
    if record.doc_id is None and key is not None and not key.startswith("path:"):
        return replace(record, doc_id=key)
    return record


def _batches(members: Iterable[tuple[str, int]], max_rows: int) -> Iterable[list[tuple[str, int]]]:
    batch: list[tuple[str, int]] = []
    rows = 0
    for rel, n in members:
        if batch and rows + n > max_rows:
            yield batch
            batch, rows = [], 0
        batch.append((rel, n))
        rows += n
    if batch:
        yield batch
