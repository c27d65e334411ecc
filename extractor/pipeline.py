"""The one loop: inputs -> parse -> extract -> Records. `execute` runs a `Job`; the CLI, the API
and the Ray runner all go through it (`run` and `run_incremental` build the Job for you).

Every input ends as exactly one Record: a successful one, or a failed one that names the file,
the stage and the reason. An input error never stops the batch; anything that is not an
`ExtractorError` is a bug and propagates.

A Job without an output folder keeps its Records in memory; with one it is the nightly job: it adds
to that folder, processing only what is new, committing as it goes, safe to kill at any moment.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from extractor import faults
from extractor.config import NightlyOptions, RunConfig
from extractor.engines.base import Engine, LazyEngine
from extractor.errors import ConfigError, MissingInput
from extractor.extract import document_budget, extract_batch, is_fallback
from extractor.inputs import Discovery, discover
from extractor.job import Job, OnRecord, Runner
from extractor.parse.ocr import check_languages
from extractor.parse.pool import parse_files
from extractor.schema import SchemaInfo
from extractor.sink import errors_table, rows_table
from extractor.sink.store import OutputStore, Plan
from extractor.types import Document, ErrorInfo, Provenance, Record, Stage, Status

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger("extractor.run")

__all__ = ["Discovery", "Job", "OnRecord", "RunResult", "Runner", "discover", "execute", "run", "run_incremental"]


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


def execute(job: Job, *, on_plan: Callable[[Plan], None] | None = None, on_record: OnRecord | None = None) -> RunResult:
    """Run a job: one Record per input, each passed to `on_record` as it is made.

    What would fail the whole run fails first, before any document is read (a model trained for
    another schema, an OCR language that is not installed). With `job.out`, `on_plan` is told what
    is new before the work starts.
    """
    preflight(job.engine, job.schema, job.config)
    if job.out is None:
        return (job.runner or run_local)(job, on_record)
    return _run_into(job, on_plan, on_record)


def run(
    inputs: Iterable[str | os.PathLike[str]] | Discovery,
    schema: SchemaInfo,
    engine: Engine | LazyEngine,
    config: RunConfig | None = None,
    on_record: OnRecord | None = None,
) -> RunResult:
    """Parse and extract every input in this process; return one Record per input."""
    return execute(Job.build(inputs, schema, engine=engine, config=config), on_record=on_record)


def run_incremental(
    inputs: Iterable[str | os.PathLike[str]] | Discovery,
    out: str | os.PathLike[str],
    schema: SchemaInfo,
    engine: Engine | LazyEngine,
    config: RunConfig | None = None,
    *,
    on_plan: Callable[[Plan], None] | None = None,
    on_record: OnRecord | None = None,
    command: str = "",
    runner: Runner | None = None,
    **nightly: object,
) -> RunResult:
    """The nightly job: add what is new in `inputs` to the output folder `out`; `nightly` are the
    fields of `NightlyOptions` (full, max_attempts, commit_every, commit_interval_s)."""
    job = Job.build(
        inputs,
        schema,
        engine=engine,
        runner=runner or "local",
        config=config,
        out=out,
        nightly=NightlyOptions.model_validate(nightly),
        command=command,
    )
    return execute(job, on_plan=on_plan, on_record=on_record)


def _run_into(job: Job, on_plan: Callable[[Plan], None] | None, on_record: OnRecord | None) -> RunResult:
    """Only documents whose content, schema or model is new are processed (all of them with
    `full`); failures are retried up to `max_attempts`. Records are committed every `commit_every`
    documents or `commit_interval_s` seconds, so a kill loses at most that much work, and a rerun
    after any kill ends with every input exactly once. A `LazyEngine` is built only if there is work."""
    assert job.out is not None
    schema, nightly, discovery = job.schema, job.nightly, job.inputs
    model_fp = model_fingerprint(job.engine, job.config)
    run_date = date.today()
    with (
        OutputStore(job.out) as store,
        store.ledger.recording("run", schema.name, schema.fingerprint, model_fp, job.command) as run_id,
    ):
        ledger = store.ledger
        plan = store.plan(
            discovery.files,
            discovery.missing,
            schema,
            model_fp,
            full=nightly.full,
            max_attempts=nightly.max_attempts,
            run_id=run_id,
        )
        faults.point("after_plan")
        ledger.update_run(run_id, inputs=len(discovery), planned=len(plan.todo) + len(discovery.missing))
        if on_plan is not None:
            on_plan(plan)
        work = Discovery(tuple(plan.todo), discovery.missing)
        result = RunResult(schema=schema, model_id=job.engine.model_id, model_fingerprint=model_fp)
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
                due = time.monotonic() - last_commit >= nightly.commit_interval_s
                if len(buffer) >= nightly.commit_every or due:
                    commit()

            try:
                result = (job.runner or run_local)(dataclasses.replace(job, inputs=work), on_each)
            finally:
                commit()  # what is done is kept, whatever stopped the run
        result.plan, result.files = plan, written
        ledger.update_run(run_id, ok=result.ok, failed=result.failed)
    log.info(
        "run finished",
        extra={
            "out": str(job.out),
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


def run_local(job: Job, on_record: OnRecord | None = None) -> RunResult:
    """The default `Runner`: parse and extract the job's inputs in this process (building its
    engine here if it is lazy); one Record per input, in input order per batch."""
    schema, config = job.schema, job.config
    engine = job.engine.build() if isinstance(job.engine, LazyEngine) else job.engine
    document_budget(engine, schema, config)  # a context too small for the prompt fails before any document
    started = time.perf_counter()
    result = RunResult(schema=schema, model_id=engine.model_id, model_fingerprint=model_fingerprint(engine, config))
    emit = Emitter(result, config, on_record)
    for source, reason in job.inputs.missing:
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

    with parse_files(job.inputs.files, config.limits, config.parse_workers) as parsed_files:
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
    OCR language that is not installed, a context too small for the prompt (a loaded engine only;
    a lazy one is checked once it is built, by whatever runs the work)."""
    check_model_schema(engine, schema)
    if config.limits.ocr:
        check_languages(config.limits.ocr_lang)
    if not isinstance(engine, LazyEngine):
        document_budget(engine, schema, config)


def _log_record(record: Record) -> None:
    fields: dict[str, object] = {"source": record.source, "doc_id": record.doc_id, "status": record.status.value}
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
