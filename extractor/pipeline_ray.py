"""The same pipeline on Ray Data, for folders that outgrow one machine (`extractor run --runner ray`).

The stages are the local ones, as Ray Data operators:

    paths --(parse actors: a ParsePool each, so timeouts and crash isolation hold)-->
          --(extraction actors: the model loaded once per actor, a GPU each when the cluster has GPUs)-->
          records, streamed back to the driver

The driver keeps what must happen exactly once: it plans (the ledger says what is new), receives
every Record and commits them to the output folder as the local run does. So the output is the
same Parquet dataset with the same columns, errors table and ledger, and a kill loses at most the
records not yet committed; a rerun does the rest. Workers read the input files by path: on a
cluster, inputs live on storage every node sees (a shared filesystem). Ray is an extra
(`pip install 'extractor[ray]'`); nothing else imports this module.
"""

from __future__ import annotations

import logging
import pickle
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extractor.config import ParseLimits, RunConfig
from extractor.engines.base import Engine, LazyEngine, lazy_engine
from extractor.errors import ConfigError, MissingInput
from extractor.job import Job, OnRecord
from extractor.pipeline import Emitter, RunResult, failed_record, model_fingerprint
from extractor.schema import SHIPPED_PACKAGE, SchemaInfo
from extractor.types import Stage

log = logging.getLogger("extractor.ray")

PARSE_BATCH = 8  # files a parse actor takes at once


@dataclass(frozen=True)
class RayRunner:
    """Runs a job's work on Ray Data: `execute(Job.build(..., runner=RayRunner("auto")))`. What
    fails a whole run was checked by `execute` before; the document budget is checked by each
    actor, on its own engine.

    address: None starts a Ray instance on this machine; "auto" or "ray://host:10001" joins a cluster.
    actors: extraction actors (each loads the model once); default one per GPU, else one.
    gpus_per_actor: default 1 when the cluster has GPUs, else 0 (the CPU).
    cpus_per_actor: CPUs reserved for each extraction actor; when given, torch uses that many threads
        (default: 1 reserved, and torch uses every core of its node, as the local engine does).
    parse_actors: default: the CPUs the extraction actors leave, at least one.
    """

    address: str | None = None
    actors: int | None = None
    gpus_per_actor: float | None = None
    cpus_per_actor: float | None = None
    parse_actors: int | None = None

    def __call__(self, job: Job, on_record: OnRecord | None = None) -> RunResult:
        ray = _connect(self.address)
        schema, engine, config = job.schema, job.engine, job.config
        started = time.perf_counter()
        result = RunResult(schema=schema, model_id=engine.model_id, model_fingerprint=model_fingerprint(engine, config))
        emit = Emitter(result, config, on_record)
        for source, reason in job.inputs.missing:
            emit(failed_record(source, Stage.DISCOVER, MissingInput(reason), schema, engine.model_id))
        if job.inputs.files:
            for blob in self._records(ray, job.inputs.files, schema, engine, config):
                emit(pickle.loads(blob))
        result.elapsed_s = time.perf_counter() - started
        return result

    def _records(
        self, ray: Any, files: tuple[Path, ...], schema: SchemaInfo, engine: Engine | LazyEngine, config: RunConfig
    ) -> Any:
        resources = ray.cluster_resources()
        gpus = self.gpus_per_actor if self.gpus_per_actor is not None else (1.0 if resources.get("GPU") else 0.0)
        actors = self.actors or (max(1, int(resources.get("GPU", 0) // gpus)) if gpus else 1)
        cpus = int(resources.get("CPU", 1))
        reserved = self.cpus_per_actor or 1.0
        parse_actors = self.parse_actors or max(1, min(cpus - int(actors * reserved), len(files)))
        _ship_schema_by_value(schema)
        # Ray Data's own progress bars would fight the CLI's; the caller reports per record.
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        items = [{"path": str(path)} for path in files]
        dataset = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), 4 * parse_actors)))
        parsed = dataset.map_batches(
            ParseStage,
            fn_constructor_kwargs={"limits": config.limits, "model_id": engine.model_id, "schema": schema},
            batch_size=PARSE_BATCH,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=parse_actors),
            num_cpus=1,
        )
        extracted = parsed.map_batches(
            ExtractStage,
            fn_constructor_kwargs={
                "engine": _portable(engine, self.cpus_per_actor),
                "schema": schema,
                "config": config,
            },
            batch_size=config.batch_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=reserved,
            num_gpus=gpus,
        )
        for batch in extracted.iter_batches(batch_size=None, batch_format="pyarrow"):
            yield from batch.column("record").to_pylist()


class ParseStage:
    """A Ray Data actor that parses files in its own worker process (the local ParsePool), so a
    file that hangs or crashes the parser becomes an error row, not a lost Ray task."""

    def __init__(self, limits: ParseLimits, model_id: str, schema: SchemaInfo):
        from extractor.parse.pool import ParsePool

        self.model_id, self.schema = model_id, schema
        self.pool = ParsePool(limits, workers=1).__enter__()

    def __call__(self, batch: Any) -> dict[str, list[Any]]:
        out: list[bytes] = []
        for parsed in self.pool.map(Path(p) for p in batch.column("path").to_pylist()):
            if parsed.error is not None:
                record = failed_record(str(parsed.path), Stage.PARSE, parsed.error, self.schema, self.model_id)
                out.append(pickle.dumps(("record", record)))
            else:
                out.append(pickle.dumps(("document", parsed.document, parsed.seconds)))
        return {"item": out}

    def __del__(self) -> None:
        self.pool.close()


class ExtractStage:
    """A Ray Data actor holding one engine: built once, then fed batches of parsed documents."""

    def __init__(self, engine: Any, schema: SchemaInfo, config: RunConfig):
        from extractor.extract import document_budget

        self.engine = _build(engine)
        self.schema, self.config = schema, config
        document_budget(self.engine, schema, config)  # as a local run checks it, before any document

    def __call__(self, batch: Any) -> dict[str, list[bytes]]:
        from extractor.extract import extract_batch

        items = [pickle.loads(blob) for blob in batch.column("item").to_pylist()]
        docs = [item[1] for item in items if item[0] == "document"]
        parse_s = [item[2] for item in items if item[0] == "document"]
        records = iter(extract_batch(docs, self.schema, self.engine, self.config, parse_s=parse_s))
        out = [item[1] if item[0] == "record" else next(records) for item in items]
        return {"record": [pickle.dumps(record) for record in out]}


@dataclass(frozen=True)
class _Rebuild:
    """How an actor builds the engine on its own node: the engine's name and model, resolved there,
    and the fingerprint it must have (the same weights as the driver planned with)."""

    name: str
    model: str | None
    options: tuple[tuple[str, Any], ...]
    fingerprint: str


def _portable(engine: Engine | LazyEngine, cpus: float | None = None) -> Any:
    if isinstance(engine, LazyEngine) and engine.spec is not None:
        name, model, options = engine.spec
        if cpus and name in ("transformers", "llamacpp"):
            options = {**options, "threads": max(1, int(cpus))}
        return _Rebuild(name, model, tuple(sorted(options.items())), engine.fingerprint)
    return engine  # a built engine or a LazyEngine without a spec travels as it is (cloudpickle)


def _build(engine: Any) -> Engine:
    if isinstance(engine, _Rebuild):
        built = lazy_engine(engine.name, engine.model, **dict(engine.options)).build()
        if built.fingerprint != engine.fingerprint:
            raise ConfigError(
                f"the model on this node ({built.model_id}, fingerprint {built.fingerprint}) is not the one the "
                f"run was planned with (fingerprint {engine.fingerprint}); install the same model on every node"
            )
        return built
    if isinstance(engine, LazyEngine):
        return engine.build()
    built_engine: Engine = engine
    return built_engine


def _ship_schema_by_value(schema: SchemaInfo) -> None:
    """A schema of the user's own (`--schema my_schemas.py:Invoice`, or a class in a script) has no
    module the workers could import: send its module's code along instead of a reference to it.
    The shipped schemas are installed with extractor on every node and travel by reference."""
    name = schema.model.__module__
    module = sys.modules.get(name)
    if module is None or name == "__main__" or name.partition(".")[0] == SHIPPED_PACKAGE:
        return  # cloudpickle sends classes of __main__ by value anyway
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(module)


def _connect(address: str | None) -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ConfigError(f"--runner ray needs Ray Data: pip install 'extractor[ray]' ({exc})") from exc
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False}
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as exc:
            raise ConfigError(f"cannot reach the Ray cluster at {address!r}: {exc}") from exc
    return ray
