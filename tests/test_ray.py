"""`extractor run --runner ray`: the pipeline on a local Ray instance gives the rows, error rows and
ledger the local engine gives, and stays incremental."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from extractor.api import read
from extractor.config import RunConfig
from extractor.engines.base import lazy_engine
from extractor.pipeline import run_incremental
from extractor.schema import load_schema

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples" / "invoices"
SMALL = f"{Path(__file__).parent / 'small_schema.py'}:Small"  # bounds a random model's answers always fit
# Differ between any two runs, whatever ran them.
VOLATILE = ["extracted_at", "failed_at"]


@pytest.fixture(scope="module")
def ray_runner():
    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must test the Ray engine: make setup installs extractor[ray]")
        pytest.skip("ray is not installed (pip install 'extractor[ray]')")
    from extractor.pipeline_ray import RayRunner

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield RayRunner()
    ray.shutdown()


def _inputs(tmp_path: Path) -> Path:
    """The shipped samples (good PDFs, an email, a broken PDF) and an empty file."""
    folder = tmp_path / "inbox"
    shutil.copytree(SAMPLES, folder)
    (folder / "empty.pdf").write_bytes(b"")
    return folder


def _table(out: Path, errors: bool = False):  # type: ignore[no-untyped-def]
    frame = read(out, "small", errors=errors)
    frame = frame.drop(columns=[c for c in VOLATILE if c in frame.columns])
    return frame.sort_values("source_path" if "source_path" in frame.columns else frame.columns[0]).reset_index(
        drop=True
    )


def test_ray_gives_the_rows_the_local_engine_gives(tmp_path: Path, tiny_model_dir: Path, ray_runner) -> None:
    inbox = _inputs(tmp_path)
    schema = load_schema(SMALL)  # a schema of the user's own, from a file: travels to the actors by value
    # One document per forward pass: a random tiny model's near-even logits could otherwise
    # tip with the batch a document lands in, and batches are Ray's to form.
    engine = lazy_engine("transformers", str(tiny_model_dir), batch_size=1)
    config = RunConfig(max_new_tokens=400, decoding="json")
    missing = str(tmp_path / "gone.pdf")

    local = run_incremental([inbox, missing], tmp_path / "local", schema, engine, config)
    on_ray = run_incremental([inbox, missing], tmp_path / "ray", schema, engine, config, runner=ray_runner)

    assert (on_ray.ok, on_ray.failed) == (local.ok, local.failed)
    assert local.ok >= 4 and local.failed == 3  # broken PDF, empty file, missing path
    rows_local, rows_ray = _table(tmp_path / "local"), _table(tmp_path / "ray")
    assert list(rows_ray.columns) == list(rows_local.columns)
    assert rows_ray.equals(rows_local)
    errors_local, errors_ray = _table(tmp_path / "local", errors=True), _table(tmp_path / "ray", errors=True)
    assert errors_ray.equals(errors_local)
    assert set(errors_ray["stage"]) == {"parse", "discover"}

    again = run_incremental([inbox, missing], tmp_path / "ray", schema, engine, config, runner=ray_runner)
    assert again.plan is not None and again.plan.skipped == local.ok
    assert _table(tmp_path / "ray").equals(rows_ray)  # nothing twice


def test_an_actor_refuses_other_weights_than_the_run_was_planned_with(tiny_model_dir: Path, ray_runner) -> None:
    from extractor.errors import ConfigError
    from extractor.pipeline_ray import _build, _portable

    recipe = _portable(lazy_engine("transformers", str(tiny_model_dir)))
    assert _build(recipe).fingerprint == recipe.fingerprint
    with pytest.raises(ConfigError, match="not the one the run was planned with"):
        _build(type(recipe)(recipe.name, recipe.model, recipe.options, "0" * 16))


def test_a_built_engine_travels_to_the_actors(tmp_path: Path, ray_runner) -> None:
    from extractor.engines.fake import FakeEngine

    schema = load_schema(SMALL)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(3):
        (inbox / f"note-{n}.txt").write_text(f"Reference R-{n}, amount {n}.50")

    # The engine answers from the prompt, so each row shows its own document reached the actor.
    def respond(prompt) -> str:  # type: ignore[no-untyped-def]
        ref = re.search(r"R-\d", prompt[-1]["content"])
        return json.dumps({"ref": ref.group(0) if ref else None, "amount": "1.50"})

    engine = FakeEngine(respond=respond)
    result = run_incremental([inbox], tmp_path / "out", schema, engine, RunConfig(decoding="json"), runner=ray_runner)
    assert (result.ok, result.failed) == (3, 0)
    rows = read(tmp_path / "out", "small").sort_values("source_path")
    assert list(rows["ref"]) == ["R-0", "R-1", "R-2"]


def test_on_ray_a_failing_grammar_or_engine_fails_one_document_not_the_run(tmp_path: Path, ray_runner) -> None:
    from extractor.engines.fake import FakeEngine
    from extractor.errors import GenerationFailed
    from tests.test_engine_failures import BREAKS_ENGINE, BREAKS_GRAMMAR, assert_the_batch_completed, three_documents

    def respond(prompt) -> str:  # type: ignore[no-untyped-def]
        if BREAKS_ENGINE in prompt[-1]["content"]:
            raise GenerationFailed("the device gave up on this prompt")
        return json.dumps({"ref": "R-1", "kind": "a", "tags": [], "items": []})

    def refuse(constraint) -> str | None:  # type: ignore[no-untyped-def]
        return "lexer precomputation failed" if constraint.lark and BREAKS_GRAMMAR in constraint.lark else None

    engine = FakeEngine(respond=respond, refuse=refuse)
    folder = three_documents(tmp_path / "in")
    result = run_incremental([folder], tmp_path / "out", load_schema(SMALL), engine, RunConfig(), runner=ray_runner)
    assert_the_batch_completed(result.records)
    assert (result.ok, result.failed, result.fallbacks) == (2, 1, 1), [r.error for r in result.records]
    errors = read(tmp_path / "out", "small", errors=True)
    assert list(errors["stage"]) == ["extract"]


def test_on_ray_each_document_gets_a_log_line_and_on_error_raise_raises(
    tmp_path: Path, ray_runner, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from extractor.engines.fake import FakeEngine
    from extractor.errors import CorruptInput

    engine = FakeEngine(respond=lambda prompt: json.dumps({"ref": "R-1", "kind": "a", "tags": [], "items": []}))
    inbox = _inputs(tmp_path)
    inputs = sorted(p for p in inbox.iterdir() if p.is_file())
    with caplog.at_level(logging.DEBUG, logger="extractor"):
        result = run_incremental([inbox], tmp_path / "out", load_schema(SMALL), engine, RunConfig(), runner=ray_runner)
    lines = [r for r in caplog.records if r.getMessage().startswith("document ")]
    assert sorted(Path(r.source).name for r in lines) == sorted(p.name for p in inputs)  # one line each
    assert len(result.records) == len(inputs) and result.failed >= 2  # the broken and the empty PDF

    with pytest.raises(CorruptInput, match=r"broken-upload\.pdf"):
        run_incremental(
            [inbox / "broken-upload.pdf"],
            tmp_path / "out2",
            load_schema(SMALL),
            engine,
            RunConfig(on_error="raise"),
            runner=ray_runner,
        )
