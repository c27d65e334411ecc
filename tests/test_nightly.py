"""Incremental nightly runs: only what is new is processed, every input ends exactly once, the
output folder is locked, recoverable, compactable and reports its status."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

import extractor
from extractor.cli import app
from extractor.engines.base import LazyEngine
from extractor.errors import OutputLocked
from extractor.schema import load_schema
from extractor.sink import OutputStore
from extractor.sink.lock import OutputLock
from tests import documents, nightly_job
from tests.nightly_job import job
from tests.small_schema import Small

runner = CliRunner()


def _inputs(folder: Path, numbers: range) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        (folder / f"inv{n}.txt").write_text(f"Invoice INV-{n}\nTotal 10.00 EUR\n")
    return folder


def _rows(out: Path) -> dict[str, str]:
    frame = extractor.read(out, "invoice")
    return dict(zip(frame["source_path"], frame["invoice_number"], strict=True)) if len(frame) else {}


def _errors(out: Path) -> dict[str, tuple[str, int]]:
    frame = extractor.read(out, "invoice", errors=True)
    if not len(frame):
        return {}
    return {s: (t, a) for s, t, a in zip(frame["source_path"], frame["error_type"], frame["attempts"], strict=True)}


def test_only_new_documents_are_processed(tmp_path: Path) -> None:
    folder, out = _inputs(tmp_path / "in", range(3)), tmp_path / "out"
    first = job(folder, out)
    assert first.ok == 3 and first.skipped == 0
    _inputs(folder, range(3, 5))
    second = job(folder, out)
    assert sorted(Path(r.source).name for r in second.records) == ["inv3.txt", "inv4.txt"]
    assert second.plan is not None and second.plan.unchanged == 3
    assert sorted(_rows(out).values()) == [f"INV-{n}" for n in range(5)]
    third = job(folder, out)
    assert third.records == [] and third.files == []


def test_a_run_with_nothing_new_never_loads_the_model(tmp_path: Path) -> None:
    folder, out = _inputs(tmp_path / "in", range(2)), tmp_path / "out"
    job(folder, out)
    engine = nightly_job.engine()
    builds = []
    lazy = LazyEngine("fake", engine.fingerprint, None, build=lambda: builds.append(1) or engine)  # type: ignore[func-returns-value]
    result = extractor.pipeline.run_incremental([folder], out, load_schema("invoice"), lazy, nightly_job.CONFIG)
    assert result.skipped == 2 and builds == []


def test_changed_renamed_and_duplicated_files(tmp_path: Path) -> None:
    folder, out = _inputs(tmp_path / "in", range(3)), tmp_path / "out"
    job(folder, out)
    (folder / "inv0.txt").write_text("Invoice INV-100\nTotal 10.00 EUR\n")  # corrected content, same path
    (folder / "inv1.txt").rename(folder / "renamed.txt")  # same content, new path
    shutil.copy(folder / "inv2.txt", folder / "copy-of-2.txt")  # same content twice
    result = job(folder, out)
    assert [Path(r.source).name for r in result.records] == ["inv0.txt"]
    assert result.plan is not None and result.plan.duplicates == 1 and len(result.plan.moved) == 1
    rows = {Path(p).name: n for p, n in _rows(out).items()}
    assert rows == {"inv0.txt": "INV-100", "renamed.txt": "INV-1", "inv2.txt": "INV-2"}  # one row per content


def test_schema_model_and_full_reprocess_everything_without_duplicates(tmp_path: Path) -> None:
    folder, out = _inputs(tmp_path / "in", range(3)), tmp_path / "out"
    job(folder, out)
    assert len(job(folder, out, model="another-model").records) == 3
    assert len(job(folder, out, model="another-model").records) == 0
    assert len(job(folder, out, model="another-model", full=True).records) == 3
    small = load_schema(Small)
    invoice_v2 = replace(load_schema("invoice"), fingerprint="changed")  # as an edited schema file would
    assert len(job(folder, out, schema=invoice_v2, model="another-model").records) == 3
    assert sorted(_rows(out).values()) == ["INV-0", "INV-1", "INV-2"]  # replaced, never duplicated
    assert len(job(folder, out, schema=small).records) == 3  # another schema: its own dataset
    small_rows = len(extractor.read(out, "small")) + len(extractor.read(out, "small", errors=True))
    assert small_rows == 3 and len(_rows(out)) == 3


def test_failures_are_retried_up_to_the_limit_then_kept(tmp_path: Path) -> None:
    folder, out = _inputs(tmp_path / "in", range(1)), tmp_path / "out"
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 cut")
    first = job(folder, out, max_attempts=2)
    assert sorted(Path(r.source).name for r in first.records) == ["broken.pdf", "inv0.txt"]
    assert {Path(p).name: v for p, v in _errors(out).items()} == {"broken.pdf": ("CorruptInput", 1)}
    second = job(folder, out, max_attempts=2)
    assert [Path(r.source).name for r in second.records] == ["broken.pdf"]  # retried, the good one is not
    assert {Path(p).name: v for p, v in _errors(out).items()} == {"broken.pdf": ("CorruptInput", 2)}  # one row
    third = job(folder, out, max_attempts=2)
    assert third.records == [] and third.plan is not None and third.plan.exhausted == 1
    assert len(_errors(out)) == 1  # out of attempts: the error row stays
    documents.invoice(folder, "broken.pdf")  # a good upload under the same name
    job(folder, out, max_attempts=2)
    assert _errors(out) == {} and {Path(p).name for p in _rows(out)} == {"inv0.txt", "broken.pdf"}


def test_the_lock_keeps_runs_apart_and_a_stale_one_is_recovered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, tiny_model_dir: Path
) -> None:
    out = tmp_path / "out"
    with OutputLock(out), pytest.raises(OutputLocked, match="another run"):
        OutputLock(out).acquire()
    folder = _inputs(tmp_path / "in", range(1))
    with OutputLock(out):
        args = ["run", str(folder), "--schema", "invoice", "--out", str(out), "--model", str(tiny_model_dir), "-q"]
        cli = runner.invoke(app, args)
    assert cli.exit_code == 3 and "another run" in cli.output and not (out / "invoice").exists()
    # A run killed while holding the lock leaves its holder's details behind, but no flock.
    (out / "_lock").write_text(json.dumps({"pid": 999999, "host": "h", "started": "2026-01-01"}))
    with caplog.at_level("WARNING"), OutputLock(out) as lock:
        assert lock.recovered_from is not None and lock.recovered_from["pid"] == 999999
    assert "stale lock" in caplog.text


def test_recovery_removes_temporary_and_unrecorded_files(tmp_path: Path) -> None:
    folder, out = _inputs(tmp_path / "in", range(2)), tmp_path / "out"
    job(folder, out)
    partition = next((out / "invoice").glob("run_date=*"))
    (partition / ".part-x.parquet.tmp").write_bytes(b"half")
    shutil.copy(next(partition.glob("*.parquet")), partition / "part-999999-0001.parquet")  # renamed, unrecorded
    with OutputStore(out) as store:
        assert (store.recovery.temp_files, store.recovery.orphans) == (1, 1)
    assert len(extractor.read(out, "invoice")) == 2 and not list(partition.glob(".*"))


def test_status_compact_and_logs_through_the_cli(tmp_path: Path) -> None:
    folder, out = _inputs(tmp_path / "in", range(5)), tmp_path / "out"
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 cut")
    job(folder, out)
    _inputs(folder, range(5, 7))
    job(folder, out)
    before = extractor.read(out, "invoice").drop(columns=["run_date"]).sort_values("source_path")
    files_before = len(list(out.glob("invoice/run_date=*/*.parquet")))
    assert files_before >= 3  # commits every 2 documents
    status = runner.invoke(app, ["status", str(out), "--json"])
    assert status.exit_code == 0
    invoice = json.loads(status.output)["schemas"]["invoice"]
    assert (invoice["ok"], invoice["failed"], invoice["pending"], invoice["rows_rows"]) == (7, 1, 0, 7)
    assert invoice["errors"] == {"parse/CorruptInput": 1}
    compacted = runner.invoke(app, ["compact", str(out)])
    assert compacted.exit_code == 0, compacted.output
    assert len(list(out.glob("invoice/run_date=*/*.parquet"))) == 1
    after = extractor.read(out, "invoice").drop(columns=["run_date"]).sort_values("source_path")
    assert pa.Table.from_pandas(after, preserve_index=False).equals(pa.Table.from_pandas(before, preserve_index=False))
    assert job(folder, out).records[0].source.endswith("broken.pdf")  # the ledger follows the compacted files
    assert len(extractor.read(out, "invoice")) == 7


def test_json_log_lines_one_per_document(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = _inputs(tmp_path / "in", range(2))
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 cut")
    log = tmp_path / "logs" / "run.jsonl"
    args = ["run", str(folder), "--schema", "invoice", "--out", str(tmp_path / "out"), "--model", str(tiny_model_dir)]
    result = runner.invoke(app, [*args, "--max-new-tokens", "30", "-q", "--log-file", str(log)])
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    documents = [line for line in lines if line["message"].startswith("document")]
    assert len(documents) == 3 and all({"source", "doc_id", "status"} <= set(d) for d in documents)
    failed = [d for d in documents if d["source"].endswith("broken.pdf")]
    assert failed[0]["stage"] == "parse" and failed[0]["error_type"] == "CorruptInput"
    summary = [line for line in lines if line["message"] == "run finished"]
    assert summary and summary[0]["inputs"] == 3 and summary[0]["level"] == "info"
    ok = sum(d["status"] == "ok" for d in documents)
    rerun = " ".join(runner.invoke(app, [*args, "-q"]).output.split())
    assert f"{3 - ok} processed" in rerun and (f"{ok} unchanged" in rerun or ok == 0)  # only failures retried


def test_a_rerun_of_unchanged_and_touched_inputs_extracts_nothing(tmp_path: Path) -> None:
    """Not a timing assertion (that lives in bench/nightly_rerun.py): a touched file with the same
    content counts as unchanged."""
    folder, out = _inputs(tmp_path / "in", range(200)), tmp_path / "out"
    job(folder, out)
    os.utime(folder / "inv0.txt", ns=(time.time_ns(), time.time_ns()))  # touched, same content
    result = job(folder, out)
    assert result.records == [] and result.plan is not None and result.plan.unchanged == 200
