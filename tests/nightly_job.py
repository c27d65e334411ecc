"""One incremental run with a deterministic fake engine: `python -m tests.nightly_job IN OUT`.

The fault-injection tests start it in a subprocess (so it can be SIGKILLed at a named point) and
run the same job in-process to compare. The answer copies the document's invoice number, so rows
differ per document.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from extractor.config import RunConfig
from extractor.engines.fake import FakeEngine
from extractor.pipeline import RunResult, run_incremental
from extractor.schema import SchemaInfo, load_schema

SCHEMA = "invoice"
CONFIG = RunConfig(batch_size=2, decoding="json")


def answer(prompt) -> str:  # type: ignore[no-untyped-def]
    text = prompt[-1]["content"]
    number = re.search(r"INV-\d+", text)
    return json.dumps({"invoice_number": number.group(0) if number else None, "total": "10.00", "currency": "EUR"})


def engine(model: str = "fake") -> FakeEngine:
    return FakeEngine(respond=answer, model_id=model)


def job(inputs: Path, out: Path, schema: SchemaInfo | None = None, model: str = "fake", **options) -> RunResult:  # type: ignore[no-untyped-def]
    return run_incremental(
        [inputs], out, schema or load_schema(SCHEMA), engine(model), CONFIG, commit_every=2, **options
    )


def compact(out: Path) -> None:
    import os

    from extractor.sink.store import OutputStore

    with OutputStore(out) as store:
        store.compact(store.ledger.start_run("compact", None, None, None, "test", os.getpid()))


if __name__ == "__main__":
    action, inputs, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if action == "run":
        job(inputs, out)
    else:
        compact(out)
