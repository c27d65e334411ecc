"""The one loop: inputs -> parse -> extract -> Records. The API, the CLI and scheduled jobs all
go through `run`.

Every input ends as exactly one Record: a successful one, or a failed one that names the file,
the stage and the reason. An input error never stops the batch; anything that is not an
`ExtractorError` is a bug and propagates.

`run` keeps the Records in memory; `run_incremental` is the nightly job: it adds to an output
folder, processing only what is new, committing as it goes, safe to kill at any moment.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from extractor import faults
from extractor.config import RunConfig
from extractor.engines.base import Engine, LazyEngine
from extractor.errors import ConfigError, MissingInput
from extractor.extract import document_budget, extract_batch, is_fallback
from extractor.parse.ocr import check_languages
from extractor.parse.pool import Parsed, ParsePool, parse_serially
from extractor.schema import SchemaInfo
from extractor.sink import errors_table, rows_table
from extractor.sink.store import OutputStore, Plan
from extractor.types import Document, ErrorInfo, Provenance, Record, Stage, Status

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger("extractor.run")

OnRecord = Callable[[Record], None]


class Runner(Protocol):
    """What runs the planned work of an incremental run: this process (`run_local`) or a Ray
    cluster (`extractor.pipeline_ray.RayRunner`). It returns one Record per input of `work`."""

    def __call__(
        self,
        work: Discovery,
        schema: SchemaInfo,
        engine: Engine | LazyEngine,
        config: RunConfig,
        on_record: OnRecord | None = None,
    ) -> RunResult: ...


_GLOB_CHARS = frozenset("*?[")


@dataclass
class RunResult:
    """What a run produced: one Record per input, and ways to see them as tables."""

    schema: SchemaInfo
    model_id: str
    model_fingerprint: str = ""  # engine fingerprint and decoding: what made these records
    records: list[Record] = field(default_factory=list)
    elapsed_s: float = 0.0
    plan: Plan | None = None  # incremental runs: what was skipped, moved, retired
    files: list[Path] = field(default_factory=list)  # incremental runs: the part files written

    @property
    def ok(self) -> int:
        return sum(r.status is Status.OK for r in self.records)

    @property
    def failed(self) -> int:
        return len(self.records) - self.ok

    @property
    def fallbacks(self) -> int:
        """Documents whose grounded grammar could not be used and were decoded under the JSON Schema."""
        return sum(r.provenance is not None and is_fallback(r.provenance.decoding) for r in self.records)

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

    @property
    def skipped(self) -> int:
        return self.plan.skipped if self.plan else 0

    def write(self, out_dir: str | Path) -> list[Path]:
        """Add these records to an output folder, as one commit of an incremental run: a document
        written before is replaced, never duplicated. Returns the part files written."""
        model_fp = self.model_fingerprint or f"{self.model_id}/{RunConfig().decoding}"
        with (
            OutputStore(out_dir) as store,
            store.ledger.recording("write", self.schema.name, self.schema.fingerprint, model_fp) as run_id,
        ):
            files = store.commit(self.records, self.schema, model_fp, run_id, date.today())
            store.ledger.update_run(run_id, inputs=len(self.records), ok=self.ok, failed=self.failed)
        return files


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
    preflight(engine, schema, config)
    started = time.perf_counter()
    result = RunResult(schema=schema, model_id=engine.model_id, model_fingerprint=model_fingerprint(engine, config))
    emit = Emitter(result, config, on_record)
    discovery = inputs if isinstance(inputs, Discovery) else discover(inputs)
    for source, reason in discovery.missing:
        emit(failed_record(source, Stage.DISCOVER, MissingInput(reason), schema, engine.model_id), MissingInput(reason))

    batch: list[Document] = []
    batch_parse_s: list[float] = []
    # An engine that decodes one document at a time gains nothing from a window of many: smaller
    # windows give the first rows (and commits) sooner.
    window = max(1, min(config.batch_size, getattr(engine, "batch_window", None) or config.batch_size))

    def flush() -> None:
        records = extract_batch(batch, schema, engine, config, parse_s=batch_parse_s)
        faults.point("after_extract")
        for record in records:
            emit(record)
        batch.clear()
        batch_parse_s.clear()

    with _parsed(discovery.files, config) as parsed_files:
        for parsed in parsed_files:
            faults.point("after_parse")
            if parsed.error is not None:
                emit(failed_record(str(parsed.path), Stage.PARSE, parsed.error, schema, engine.model_id), parsed.error)
                continue
            assert parsed.document is not None
            batch.append(parsed.document)
            batch_parse_s.append(parsed.seconds)
            if len(batch) >= window:
                flush()
    flush()
    result.elapsed_s = time.perf_counter() - started
    return result


def run_incremental(
    inputs: Iterable[str | os.PathLike[str]] | Discovery,
    out: str | os.PathLike[str],
    schema: SchemaInfo,
    engine: Engine | LazyEngine,
    config: RunConfig | None = None,
    *,
    full: bool = False,
    max_attempts: int = 3,
    commit_every: int = 64,
    commit_interval_s: float = 60.0,
    on_plan: Callable[[Plan], None] | None = None,
    on_record: OnRecord | None = None,
    command: str = "",
    runner: Runner | None = None,
) -> RunResult:
    """The nightly job: add what is new in `inputs` to the output folder `out`.

    Only documents whose content, schema or model is new are processed (all of them with `full`);
    failures are retried up to `max_attempts`. Records are committed every `commit_every` documents
    or `commit_interval_s` seconds, so a kill loses at most that much work, and a rerun after any
    kill ends with every input exactly once. A `LazyEngine` is built only if there is work.
    `runner` runs the work (default: in this process; `RayRunner` on a Ray cluster).
    """
    config = config or RunConfig()
    check_model_schema(engine, schema)
    discovery = inputs if isinstance(inputs, Discovery) else discover(inputs)
    model_fp = model_fingerprint(engine, config)
    run_date = date.today()
    with (
        OutputStore(out) as store,
        store.ledger.recording("run", schema.name, schema.fingerprint, model_fp, command) as run_id,
    ):
        ledger = store.ledger
        plan = store.plan(
            discovery.files, discovery.missing, schema, model_fp, full=full, max_attempts=max_attempts, run_id=run_id
        )
        faults.point("after_plan")
        ledger.update_run(run_id, inputs=len(discovery), planned=len(plan.todo) + len(discovery.missing))
        if on_plan is not None:
            on_plan(plan)
        work = Discovery(tuple(plan.todo), discovery.missing)
        result = RunResult(schema=schema, model_id=engine.model_id, model_fingerprint=model_fp)
        written: list[Path] = []
        if len(work):
            buffer: list[Record] = []
            last_commit = time.monotonic()

            def commit() -> None:
                nonlocal last_commit
                written.extend(store.commit(buffer, schema, model_fp, run_id, run_date, plan.key_of))
                buffer.clear()
                last_commit = time.monotonic()

            def on_each(record: Record) -> None:
                buffer.append(record)
                if on_record is not None:
                    on_record(record)
                if len(buffer) >= commit_every or time.monotonic() - last_commit >= commit_interval_s:
                    commit()

            try:
                result = (runner or run_local)(work, schema, engine, config, on_each)
            finally:
                commit()  # what is done is kept, whatever stopped the run
        result.plan, result.files = plan, written
        ledger.update_run(run_id, ok=result.ok, failed=result.failed)
    log.info(
        "run finished",
        extra={
            "out": str(out),
            "schema": schema.name,
            "inputs": len(discovery),
            "processed": len(result.records),
            "ok": result.ok,
            "failed": result.failed,
            "grounded_fallbacks": result.fallbacks,
            "skipped": plan.skipped,
            "moved": len(plan.moved),
            "retired": len(plan.retired),
            "elapsed_s": round(result.elapsed_s, 3),
        },
    )
    return result


def run_local(
    work: Discovery,
    schema: SchemaInfo,
    engine: Engine | LazyEngine,
    config: RunConfig,
    on_record: OnRecord | None = None,
) -> RunResult:
    """The default `Runner`: build the engine here (if it is lazy) and `run`."""
    built = engine.build() if isinstance(engine, LazyEngine) else engine
    return run(work, schema, built, config, on_record=on_record)


@contextmanager
def _parsed(files: Iterable[Path], config: RunConfig) -> Iterator[Iterator[Parsed]]:
    """Parsed files in order: from worker processes (timeouts, crash isolation) or in-process."""
    files = list(files)
    if config.parse_workers == 0 or not files:
        yield parse_serially(files, config.limits)
        return
    with ParsePool(config.limits, workers=min(config.parse_workers, len(files))) as pool:
        yield pool.map(files)


class Emitter:
    """Where every record of a run goes, whichever runner made it (in this process or on Ray): into
    the result, one log line per document, the caller's `on_record`; with `on_error="raise"`, an
    error record raises its exception instead (rebuilt from its type and message when the record
    came from another process)."""

    def __init__(self, result: RunResult, config: RunConfig, on_record: OnRecord | None = None) -> None:
        self.result, self.config, self.on_record = result, config, on_record

    def __call__(self, record: Record, exc: Exception | None = None) -> None:
        if record.error is not None and self.config.on_error == "raise":
            raise exc if exc is not None else record_error(record)
        self.result.records.append(record)
        _log_record(record)
        if self.on_record is not None:
            self.on_record(record)


def record_error(record: Record) -> Exception:
    """The typed exception an error record stands for (DocumentError when its type is not ours)."""
    from extractor import errors

    assert record.error is not None
    cls = getattr(errors, record.error.type, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.ExtractorError)):
        cls = errors.DocumentError
    return cls(f"{record.source}: {record.error.message}")


def preflight(engine: Engine | LazyEngine, schema: SchemaInfo, config: RunConfig) -> None:
    """What makes a run fail before any document is read: a model trained for another schema, an
    OCR language that is not installed, a context too small for the prompt (a loaded engine only)."""
    check_model_schema(engine, schema)
    if config.limits.ocr:
        check_languages(config.limits.ocr_lang)
    if not isinstance(engine, LazyEngine):
        document_budget(engine, schema, config)


def _log_record(record: Record) -> None:
    fields = {"source": record.source, "doc_id": record.doc_id, "status": record.status.value}
    if record.provenance is not None and is_fallback(record.provenance.decoding):
        fields["decoding"] = record.provenance.decoding
    if record.error is not None:
        fields.update(stage=record.error.stage.value, error_type=record.error.type, reason=record.error.message)
    if record.provenance is not None:
        fields.update(parse_s=round(record.provenance.parse_s, 3), extract_s=round(record.provenance.extract_s, 3))
    log.debug("document %s", record.status.value, extra=fields)


def model_fingerprint(engine: Engine | LazyEngine, config: RunConfig) -> str:
    """What a document's row depends on besides its content and the schema: weights and decoding."""
    return f"{engine.fingerprint}/{config.decoding}"


def check_model_schema(engine: Engine | LazyEngine, schema: SchemaInfo) -> None:
    """A fine-tuned model serves the schema it was trained for, in that exact version, or nothing."""
    trained_for = getattr(engine, "schema_fingerprint", None)
    if trained_for is not None and trained_for != schema.fingerprint:
        raise ConfigError(
            f"model {engine.model_id} was fine-tuned for a schema with fingerprint {trained_for}, not for "
            f"{schema.name!r} (fingerprint {schema.fingerprint}); use its own schema, another model, or retrain"
        )


def failed_record(source: str, stage: Stage, exc: Exception, schema: SchemaInfo, model_id: str) -> Record:
    """The error row of an input that stopped at `stage`."""
    return Record(
        source=source,
        status=Status.FAILED,
        doc_id=getattr(exc, "doc_id", None),
        kind=getattr(exc, "kind", None),
        error=ErrorInfo(stage=stage, type=type(exc).__name__, message=str(exc)),
        provenance=Provenance(
            model_id=model_id,
            schema_name=schema.name,
            schema_fingerprint=schema.fingerprint,
            extracted_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ),
    )
