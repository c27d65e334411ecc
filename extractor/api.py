"""The Python API: the same pipeline as the CLI, returning pandas DataFrames."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from extractor.config import NightlyOptions, RunConfig
from extractor.engines.base import Engine, LazyEngine, lazy_engine
from extractor.engines.model_store import model_for
from extractor.job import Job, OnRecord
from extractor.pipeline import RunResult, execute
from extractor.schema import SchemaInfo, load_schema

if TYPE_CHECKING:
    import pandas as pd

PathLike = str | os.PathLike[str]


class Extractor:
    """Keeps a model loaded across calls, once one is needed: the model loads on the first call
    that has a document to extract, so a nightly `run(..., out=...)` with nothing new loads nothing.

    >>> ex = Extractor(schema="invoice")            # the shipped invoice adapter on the embedded model
    >>> result = ex.run(["inbox/"])                 # RunResult: .rows(), .errors(), .write(dir)
    >>> df = ex.extract(["a.pdf", "b.eml"])         # DataFrame; df.attrs["errors"] holds failures
    >>> ex.run(["inbox/"], out="tables/")           # the nightly job: only what is new, into tables/
    >>> read("tables/", "invoice")                  # everything in tables/ so far
    """

    def __init__(
        self,
        schema: str | type[BaseModel] | SchemaInfo,
        model: PathLike | None = None,
        *,
        engine: Engine | LazyEngine | str = "auto",
        config: RunConfig | None = None,
    ):
        self.schema = schema if isinstance(schema, SchemaInfo) else load_schema(schema)
        self.config = config or RunConfig()
        self._engine: Engine | None = None
        if isinstance(engine, str):
            name = model_for(model, self.schema.name, self.schema.fingerprint)
            self._lazy = lazy_engine(engine, name)
        elif isinstance(engine, LazyEngine):
            self._lazy = engine
        else:
            self._engine = engine
            self._lazy = LazyEngine(engine.model_id, engine.fingerprint, engine.schema_fingerprint, lambda: engine)

    @property
    def engine(self) -> Engine:
        """The engine, loaded on first use and kept."""
        if self._engine is None:
            self._engine = self._lazy.build()
        return self._engine

    def _engine_for_run(self) -> LazyEngine:
        """What a run gets: the engine's identity, and a way to load it (once) only if needed."""
        return dataclasses.replace(self._lazy, build=lambda: self.engine)

    def run(
        self,
        inputs: PathLike | Iterable[PathLike],
        on_record: OnRecord | None = None,
        *,
        out: PathLike | None = None,
        full: bool = False,
        max_attempts: int = 3,
        nightly: NightlyOptions | None = None,
    ) -> RunResult:
        """Extract every input; with `out`, add only what is new to that output folder (as
        `extractor run` does) and return this run's records. `nightly` holds every nightly
        option (`full` and `max_attempts` are shortcuts for two of them)."""
        nightly = nightly or NightlyOptions(full=full, max_attempts=max_attempts)
        job = Job.build(
            _as_list(inputs), self.schema, engine=self._engine_for_run(), config=self.config, out=out, nightly=nightly
        )
        return execute(job, on_record=on_record)

    def extract(self, inputs: PathLike | Iterable[PathLike]) -> pd.DataFrame:
        result = self.run(inputs)
        frame = result.rows()
        frame.attrs["errors"] = result.errors()
        return frame


def extract(
    inputs: PathLike | Iterable[PathLike],
    schema: str | type[BaseModel],
    model: PathLike | None = None,
    config: RunConfig | None = None,
) -> pd.DataFrame:
    """Extract `schema` from files, folders or globs; one row per good document.

    Failed documents are in ``df.attrs["errors"]`` (a DataFrame naming file, stage and reason).
    Loads the model for this call; use `Extractor` to keep it loaded.
    """
    return Extractor(schema, model, config=config).extract(inputs)


def read(out: PathLike, schema: str, *, errors: bool = False, review: bool = False) -> pd.DataFrame:
    """The rows (or, with `errors`, the error rows) an output folder holds for `schema`: the last
    committed state, each input once, even while a run commits or after one was killed. With
    `review`, only the rows flagged for a person to check (`_review` not empty: a run with
    `min_confidence` found a doubtful value in them)."""
    import pandas as pd

    from extractor.sink.dataset import ERRORS, ROWS
    from extractor.sink.views import read_live

    table = read_live(Path(out), schema, ERRORS if errors else ROWS)
    frame = table.to_pandas() if table is not None else pd.DataFrame()
    if review and not errors:
        if "_review" not in frame.columns:
            return frame.iloc[0:0]
        frame = frame[frame["_review"].map(lambda reasons: reasons is not None and len(reasons) > 0)]
    return frame


def _as_list(inputs: PathLike | Iterable[PathLike]) -> list[PathLike]:
    if isinstance(inputs, (str, os.PathLike)):
        return [inputs]
    return list(inputs)
