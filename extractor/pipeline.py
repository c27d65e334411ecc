"""The one loop: inputs -> parse -> extract -> Records. The API, the CLI and scheduled jobs all
go through `run`.

Every input ends as exactly one Record: a successful one, or a failed one that names the file,
the stage and the reason. An input error never stops the batch; anything that is not an
`ExtractorError` is a bug and propagates.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from extractor.config import RunConfig
from extractor.engines.base import Engine
from extractor.errors import ConfigError, DocumentError, MissingInput
from extractor.extract import document_budget, extract_batch
from extractor.parse import parse_file
from extractor.schema import SchemaInfo
from extractor.sink import WrittenTables, errors_table, rows_table, write_tables
from extractor.types import Document, ErrorInfo, Provenance, Record, Stage, Status

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

OnRecord = Callable[[Record], None]
_GLOB_CHARS = frozenset("*?[")


@dataclass
class RunResult:
    """What a run produced: one Record per input, and ways to see them as tables."""

    schema: SchemaInfo
    model_id: str
    records: list[Record] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> int:
        return sum(r.status is Status.OK for r in self.records)

    @property
    def failed(self) -> int:
        return len(self.records) - self.ok

    @property
    def docs_per_minute(self) -> float:
        return 60.0 * len(self.records) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def rows_table(self) -> pa.Table:
        return rows_table(self.records, self.schema)

    def errors_table(self) -> pa.Table:
        return errors_table(self.records)

    def rows(self) -> pd.DataFrame:
        return self.rows_table().to_pandas()

    def errors(self) -> pd.DataFrame:
        return self.errors_table().to_pandas()

    def write(self, out_dir: str | Path) -> WrittenTables:
        return write_tables(out_dir, self.schema.name, self.rows_table(), self.errors_table())


@dataclass(frozen=True)
class Discovery:
    """The expanded inputs: files in a stable order without repeats, and (input, reason) for
    each input that matched nothing."""

    files: tuple[Path, ...]
    missing: tuple[tuple[str, str], ...]

    def __len__(self) -> int:
        return len(self.files) + len(self.missing)


def discover(inputs: Iterable[str | os.PathLike[str]]) -> Discovery:
    """Expand files, folders (recursively; hidden files and folders skipped) and globs."""
    files: dict[Path, None] = {}
    missing: list[tuple[str, str]] = []
    for item in inputs:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(_walk(path))
            if not found:
                missing.append((text, f"folder has no files: {text}"))
            files.update(dict.fromkeys(found))
        elif path.exists() or path.is_symlink():
            files[path] = None
        elif _GLOB_CHARS & set(text):
            matched = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not matched:
                missing.append((text, f"no files match {text}"))
            files.update(dict.fromkeys(matched))
        else:
            missing.append((text, f"no such file or folder: {text}"))
    return Discovery(tuple(files), tuple(missing))


def _walk(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):  # does not follow symlinked folders
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith("."):
                yield Path(dirpath) / name


def run(
    inputs: Iterable[str | os.PathLike[str]] | Discovery,
    schema: SchemaInfo,
    engine: Engine,
    config: RunConfig | None = None,
    on_record: OnRecord | None = None,
) -> RunResult:
    """Parse and extract every input; return one Record per input, in input order per batch.

    `inputs` may be an already expanded `Discovery` (e.g. the CLI sizes its progress bar first).
    """
    config = config or RunConfig()
    check_model_schema(engine, schema)
    document_budget(engine, schema, config)  # a configuration that cannot work fails before any document is read
    started = time.perf_counter()
    result = RunResult(schema=schema, model_id=engine.model_id)

    def emit(record: Record) -> None:
        result.records.append(record)
        if on_record is not None:
            on_record(record)

    discovery = inputs if isinstance(inputs, Discovery) else discover(inputs)
    for source, reason in discovery.missing:
        if config.on_error == "raise":
            raise MissingInput(reason)
        emit(_failed(source, Stage.DISCOVER, MissingInput(reason), schema, engine))

    batch: list[Document] = []
    batch_parse_s: list[float] = []

    def flush() -> None:
        for record in extract_batch(batch, schema, engine, config, parse_s=batch_parse_s):
            emit(record)
        batch.clear()
        batch_parse_s.clear()

    for path in discovery.files:
        t0 = time.perf_counter()
        try:
            doc = parse_file(path, config.limits)
        except DocumentError as exc:
            if config.on_error == "raise":
                raise
            emit(_failed(str(path), Stage.PARSE, exc, schema, engine))
            continue
        batch.append(doc)
        batch_parse_s.append(time.perf_counter() - t0)
        if len(batch) >= config.batch_size:
            flush()
    flush()
    result.elapsed_s = time.perf_counter() - started
    return result


def check_model_schema(engine: Engine, schema: SchemaInfo) -> None:
    """A fine-tuned model serves the schema it was trained for, in that exact version, or nothing."""
    trained_for = getattr(engine, "schema_fingerprint", None)
    if trained_for is not None and trained_for != schema.fingerprint:
        raise ConfigError(
            f"model {engine.model_id} was fine-tuned for a schema with fingerprint {trained_for}, not for "
            f"{schema.name!r} (fingerprint {schema.fingerprint}); use its own schema, another model, or retrain"
        )


def _failed(source: str, stage: Stage, exc: Exception, schema: SchemaInfo, engine: Engine) -> Record:
    return Record(
        source=source,
        status=Status.FAILED,
        doc_id=getattr(exc, "doc_id", None),
        kind=getattr(exc, "kind", None),
        error=ErrorInfo(stage=stage, type=type(exc).__name__, message=str(exc)),
        provenance=Provenance(
            model_id=engine.model_id,
            schema_name=schema.name,
            schema_fingerprint=schema.fingerprint,
            extracted_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ),
    )
