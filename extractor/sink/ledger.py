"""The ledger: what an output folder holds, in SQLite (`OUT/_ledger.sqlite`).

- items:   one per (schema, input item): its status (ok / failed), attempts under the current
           (schema, model) pair, the data file its one live row is in, fingerprints, last error.
- files:   every committed data file, its row count, and whether it still holds rows the ledger
           no longer counts as live (`dirty`: superseded, retired, or a source path to update).
- sources: path -> size, mtime and content hash, so a rerun re-hashes only changed files.
- queue:   the items a run planned and has not committed yet ("pending" after a kill).
- runs:    one row per run and per compaction.

A data file is durable on disk before the transaction that registers it commits; a file on disk
that the ledger does not know is the trace of a killed run and is removed at the next start.
Migrations are append-only (`PRAGMA user_version`).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from extractor import faults
from extractor.errors import OutputError

LEDGER_NAME = "_ledger.sqlite"

_MIGRATIONS = [
    """
    CREATE TABLE runs (
        run_id INTEGER PRIMARY KEY AUTOINCREMENT,
        action TEXT NOT NULL,               -- run | compact
        schema_name TEXT,
        schema_fingerprint TEXT,
        model_fingerprint TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,               -- running | finished | interrupted
        inputs INTEGER DEFAULT 0,
        planned INTEGER DEFAULT 0,
        ok INTEGER DEFAULT 0,
        failed INTEGER DEFAULT 0,
        pid INTEGER,
        command TEXT
    );
    CREATE TABLE files (
        path TEXT PRIMARY KEY,              -- relative to the output folder
        schema_name TEXT NOT NULL,
        kind TEXT NOT NULL,                 -- rows | errors
        run_id INTEGER NOT NULL,
        rows INTEGER NOT NULL,
        dirty INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE items (
        schema_name TEXT NOT NULL,
        item_key TEXT NOT NULL,
        doc_id TEXT,
        source_path TEXT NOT NULL,
        status TEXT NOT NULL,               -- ok | failed
        attempts INTEGER NOT NULL,
        data_file TEXT NOT NULL,
        schema_fingerprint TEXT NOT NULL,
        model_fingerprint TEXT NOT NULL,
        error_stage TEXT,
        error_type TEXT,
        error_message TEXT,
        first_seen TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        run_id INTEGER NOT NULL,
        PRIMARY KEY (schema_name, item_key)
    );
    CREATE INDEX items_by_file ON items (data_file);
    CREATE TABLE sources (
        schema_name TEXT NOT NULL,
        path TEXT NOT NULL,
        size INTEGER,
        mtime_ns INTEGER,
        item_key TEXT NOT NULL,
        PRIMARY KEY (schema_name, path)
    );
    CREATE TABLE queue (
        schema_name TEXT NOT NULL,
        item_key TEXT NOT NULL,
        source_path TEXT NOT NULL,
        run_id INTEGER NOT NULL,
        PRIMARY KEY (schema_name, item_key)
    );
    """,
]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Item:
    key: str
    doc_id: str | None
    source_path: str
    status: str
    attempts: int
    data_file: str
    schema_fingerprint: str
    model_fingerprint: str


@dataclass(frozen=True)
class Outcome:
    """One processed item, as the commit records it."""

    key: str
    doc_id: str | None
    source_path: str
    ok: bool
    attempts: int
    data_file: str
    error_stage: str | None = None
    error_type: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class NewFile:
    path: str
    kind: str
    rows: int


class Ledger:
    def __init__(self, out_dir: Path):
        self.path = out_dir / LEDGER_NAME
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)  # transactions are explicit
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA journal_mode=DELETE")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise OutputError(f"cannot use the ledger {self.path}: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(_MIGRATIONS):
            raise OutputError(f"{self.path} was written by a newer extractor (ledger version {version})")
        for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                for statement in script.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # runs ---------------------------------------------------------------------------------

    def start_run(
        self, action: str, schema_name: str | None, schema_fp: str | None, model_fp: str | None, command: str, pid: int
    ) -> int:
        with self.transaction() as db:
            db.execute("UPDATE runs SET status='interrupted' WHERE status='running'")
            cur = db.execute(
                "INSERT INTO runs (action, schema_name, schema_fingerprint, model_fingerprint, started_at, status, pid,"
                " command) VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                (action, schema_name, schema_fp, model_fp, now(), pid, command),
            )
            return int(cur.lastrowid or 0)

    @contextmanager
    def recording(
        self,
        action: str,
        schema_name: str | None = None,
        schema_fp: str | None = None,
        model_fp: str | None = None,
        command: str = "",
    ) -> Iterator[int]:
        """A run of `action` ("run", "write", "compact") in the runs table, around the block: its
        id while it runs, finished after, failed if the block raises (a killed process leaves it
        running, and the next run marks it interrupted)."""
        run_id = self.start_run(action, schema_name, schema_fp, model_fp, command, os.getpid())
        try:
            yield run_id
        except BaseException:
            self.update_run(run_id, status="failed", finished_at=now())
            raise
        self.finish_run(run_id)

    def update_run(self, run_id: int, **counts: int | str) -> None:
        assignments = ", ".join(f"{name}=?" for name in counts)
        with self.transaction() as db:
            db.execute(f"UPDATE runs SET {assignments} WHERE run_id=?", (*counts.values(), run_id))

    def finish_run(self, run_id: int) -> None:
        self.update_run(run_id, status="finished", finished_at=now())

    # planning -----------------------------------------------------------------------------

    def items(self, schema_name: str, keys: Iterable[str] | None = None) -> dict[str, Item]:
        """All items of a schema, or only those with the given keys."""
        columns = "item_key, doc_id, source_path, status, attempts, data_file, schema_fingerprint, model_fingerprint"
        if keys is None:
            rows = self.db.execute(f"SELECT {columns} FROM items WHERE schema_name=?", (schema_name,)).fetchall()
        else:
            rows = [
                row
                for key in keys
                for row in self.db.execute(
                    f"SELECT {columns} FROM items WHERE schema_name=? AND item_key=?", (schema_name, key)
                )
            ]
        return {row[0]: Item(*row) for row in rows}

    def sources(self, schema_name: str) -> dict[str, tuple[int | None, int | None, str]]:
        rows = self.db.execute("SELECT path, size, mtime_ns, item_key FROM sources WHERE schema_name=?", (schema_name,))
        return {path: (size, mtime, key) for path, size, mtime, key in rows}

    def save_plan(
        self,
        schema_name: str,
        run_id: int,
        sources: Iterable[tuple[str, int | None, int | None, str]],
        queue: Iterable[tuple[str, str]],
    ) -> None:
        """Remember what this run saw (path -> content) and what it is about to process."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO sources (schema_name, path, size, mtime_ns, item_key) VALUES (?, ?, ?, ?, ?)",
                ((schema_name, *s) for s in sources),
            )
            db.execute("DELETE FROM queue WHERE schema_name=?", (schema_name,))
            db.executemany(
                "INSERT OR REPLACE INTO queue (schema_name, item_key, source_path, run_id) VALUES (?, ?, ?, ?)",
                ((schema_name, key, path, run_id) for key, path in queue),
            )

    def retire(self, schema_name: str, keys: Iterable[str]) -> int:
        """Items whose input is gone for good (its path now holds other content): their rows go."""
        count = 0
        with self.transaction() as db:
            for key in keys:
                row = db.execute(
                    "SELECT data_file FROM items WHERE schema_name=? AND item_key=?", (schema_name, key)
                ).fetchone()
                if row is None:
                    continue
                db.execute("UPDATE files SET dirty=1 WHERE path=?", row)
                db.execute("DELETE FROM items WHERE schema_name=? AND item_key=?", (schema_name, key))
                count += 1
        return count

    def move(self, schema_name: str, moved: Mapping[str, str]) -> None:
        """Items found under a new path with the same content: record the path, fix the row."""
        with self.transaction() as db:
            for key, path in moved.items():
                row = db.execute(
                    "SELECT data_file FROM items WHERE schema_name=? AND item_key=?", (schema_name, key)
                ).fetchone()
                if row is None:
                    continue
                db.execute(
                    "UPDATE items SET source_path=?, updated_at=? WHERE schema_name=? AND item_key=?",
                    (path, now(), schema_name, key),
                )
                db.execute("UPDATE files SET dirty=1 WHERE path=?", row)

    # commits ------------------------------------------------------------------------------

    def commit(
        self,
        schema_name: str,
        schema_fp: str,
        model_fp: str,
        run_id: int,
        files: Iterable[NewFile],
        outcomes: Iterable[Outcome],
    ) -> None:
        """Register durable data files and point their items at them, in one transaction. Rows
        these items had in older files become dead there (those files are marked dirty)."""
        stamp = now()
        with self.transaction() as db:
            for f in files:
                db.execute(
                    "INSERT INTO files (path, schema_name, kind, run_id, rows, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (f.path, schema_name, f.kind, run_id, f.rows, stamp),
                )
            for o in outcomes:
                old = db.execute(
                    "SELECT data_file, first_seen FROM items WHERE schema_name=? AND item_key=?", (schema_name, o.key)
                ).fetchone()
                if old is not None and old[0] != o.data_file:
                    db.execute("UPDATE files SET dirty=1 WHERE path=?", (old[0],))
                db.execute(
                    "INSERT OR REPLACE INTO items (schema_name, item_key, doc_id, source_path, status, attempts,"
                    " data_file, schema_fingerprint, model_fingerprint, error_stage, error_type, error_message,"
                    " first_seen, updated_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        schema_name,
                        o.key,
                        o.doc_id,
                        o.source_path,
                        "ok" if o.ok else "failed",
                        o.attempts,
                        o.data_file,
                        schema_fp,
                        model_fp,
                        o.error_stage,
                        o.error_type,
                        o.error_message,
                        old[1] if old else stamp,
                        stamp,
                        run_id,
                    ),
                )
                db.execute("DELETE FROM queue WHERE schema_name=? AND item_key=?", (schema_name, o.key))
            faults.point("in_ledger_commit")
        faults.point("ledger_committed")

    # files --------------------------------------------------------------------------------

    def files(self) -> dict[str, tuple[str, str, int, bool]]:
        """path -> (schema_name, kind, rows, dirty)."""
        rows = self.db.execute("SELECT path, schema_name, kind, rows, dirty FROM files")
        return {path: (schema, kind, n, bool(dirty)) for path, schema, kind, n, dirty in rows}

    def dirty_files(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT path FROM files WHERE dirty=1 ORDER BY path")]

    def live(self, data_file: str) -> dict[str, str]:
        """item key -> source path, for the items whose live row is in `data_file`."""
        rows = self.db.execute("SELECT item_key, source_path FROM items WHERE data_file=?", (data_file,))
        return dict(rows.fetchall())

    def file_rewritten(self, path: str, rows: int) -> None:
        with self.transaction() as db:
            if rows:
                db.execute("UPDATE files SET rows=?, dirty=0 WHERE path=?", (rows, path))
            else:
                db.execute("DELETE FROM files WHERE path=?", (path,))

    def forget_files(self, paths: Iterable[str]) -> int:
        """Data files that vanished from disk: their items are forgotten, so they are extracted again."""
        lost = 0
        with self.transaction() as db:
            for path in paths:
                lost += db.execute("DELETE FROM items WHERE data_file=?", (path,)).rowcount
                db.execute("DELETE FROM files WHERE path=?", (path,))
        return lost

    def replace_files(self, old: Iterable[str], new: NewFile, schema_name: str, run_id: int) -> None:
        """Compaction: `new` holds exactly the rows of `old`; repoint and forget the old files."""
        old = list(old)
        with self.transaction() as db:
            db.execute(
                "INSERT INTO files (path, schema_name, kind, run_id, rows, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (new.path, schema_name, new.kind, run_id, new.rows, now()),
            )
            for path in old:
                db.execute("UPDATE items SET data_file=? WHERE data_file=?", (new.path, path))
                db.execute("DELETE FROM files WHERE path=?", (path,))
        faults.point("compact_committed")

    # status -------------------------------------------------------------------------------

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        return self.db.execute(sql, params).fetchall()
