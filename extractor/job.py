"""A run, described once: the `Job` that `extractor run`, `Extractor.run` and the Ray runner all
execute through `extractor.pipeline.execute`.

A Job holds resolved things (the loaded schema, the expanded inputs, an engine that loads its
weights only when there is work); `Job.build` resolves them from names, as the CLI and the API
receive them, and raises `ConfigError` before any document is read.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel

from extractor.config import NightlyOptions, RunConfig
from extractor.engines.base import Engine, LazyEngine
from extractor.errors import ConfigError
from extractor.inputs import Discovery, discover
from extractor.schema import SchemaInfo, load_schema
from extractor.types import Record

if TYPE_CHECKING:
    from extractor.pipeline import RunResult

log = logging.getLogger("extractor.run")

OnRecord = Callable[[Record], None]
RUNNERS = ("local", "ray")


class Runner(Protocol):
    """What extracts a job's inputs: this process (`extractor.pipeline.run_local`) or a Ray
    cluster (`extractor.pipeline_ray.RayRunner`). It returns one Record per input of the job,
    each passed to `on_record` as it is made."""

    def __call__(self, job: Job, on_record: OnRecord | None = None) -> RunResult: ...


@dataclass(frozen=True)
class Job:
    """One run: what to read, what to extract, with which engine, where, with which settings.

    Without `out` the records stay in memory (the RunResult holds them); with `out` it is the
    nightly job: only what is new is processed, and records are committed to `out` as they come.
    """

    inputs: Discovery
    schema: SchemaInfo
    engine: Engine | LazyEngine
    config: RunConfig = field(default_factory=RunConfig)
    out: Path | None = None
    nightly: NightlyOptions = field(default_factory=NightlyOptions)
    runner: Runner | None = None  # None: this process
    command: str = ""  # the command line, recorded with the run in the ledger

    @classmethod
    def build(
        cls,
        inputs: Iterable[str | os.PathLike[str]] | Discovery,
        schema: str | type[BaseModel] | SchemaInfo,
        *,
        model: str | os.PathLike[str] | None = None,
        engine: str | Engine | LazyEngine = "auto",
        runner: str | Runner = "local",
        address: str | None = None,
        actors: int | None = None,
        config: RunConfig | None = None,
        out: str | os.PathLike[str] | None = None,
        nightly: NightlyOptions | None = None,
        command: str = "",
    ) -> Job:
        """Resolve names into a Job: the schema (shipped name, file.py:Class, module:Class or a
        class), the inputs, the model (default: `model_for` the schema), the engine (loaded only
        when there is work) and the runner ("local" or "ray" with its `address` and `actors`)."""
        from extractor.engines.base import lazy_engine
        from extractor.engines.model_store import model_for

        info = schema if isinstance(schema, SchemaInfo) else load_schema(schema)
        if engine == "ray":  # the old spelling of --runner ray
            log.warning("--engine ray is now --runner ray (the engine is transformers by default)")
            engine, runner = "auto", "ray"
        run_by = make_runner(runner, address, actors) if isinstance(runner, str) else runner
        if isinstance(engine, str):
            if engine == "auto" and runner == "ray":
                engine = "transformers"  # what a Ray actor runs on a GPU node
            engine = lazy_engine(engine, model_for(model, info.name, info.fingerprint))
        elif model is not None:
            raise ConfigError("give a model or a built engine, not both")
        return cls(
            inputs=inputs if isinstance(inputs, Discovery) else discover(inputs),
            schema=info,
            engine=engine,
            config=config or RunConfig(),
            out=Path(out) if out is not None else None,
            nightly=nightly or NightlyOptions(),
            runner=run_by,
            command=command,
        )


def make_runner(name: str, address: str | None = None, actors: int | None = None) -> Runner | None:
    """The runner called `name` (None for this process)."""
    if name == "ray":
        from extractor.pipeline_ray import RayRunner

        return RayRunner(address=address, actors=actors)
    if name != "local":
        raise ConfigError(f"unknown runner {name!r}; available: {', '.join(RUNNERS)}")
    if address is not None or actors is not None:
        raise ConfigError("--address and --actors are for --runner ray")
    return None
