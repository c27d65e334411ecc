"""The CLI end to end: exit codes and the Parquet it writes."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import extractor
from extractor.cli import app
from tests import documents

runner = CliRunner()
SMALL = str(Path(__file__).with_name("small_schema.py")) + ":Small"


def _run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_run_writes_rows_and_errors_and_exits_1_when_some_failed(tiny_model_dir: Path, tmp_path: Path) -> None:
    documents.invoice(tmp_path / "in")
    documents.email_with_pdf(tmp_path / "in")
    documents.write(tmp_path / "in" / "broken.pdf", b"%PDF-1.5 cut")
    out = tmp_path / "out"
    result = _run(
        "run",
        str(tmp_path / "in"),
        "--schema",
        SMALL,
        "--out",
        str(out),
        "--model",
        str(tiny_model_dir),
        "--max-new-tokens",
        "700",
        "--max-input-tokens",
        "200",
        "--quiet",
        "--show",
    )
    assert result.exit_code == 1, result.output
    rows = extractor.read(out, "small")
    errors = extractor.read(out, "small", errors=True)
    assert sorted(Path(p).name for p in rows["source_path"]) == ["invoice.pdf", "mail.eml"]
    assert errors[["stage", "error_type"]].values.tolist() == [["parse", "CorruptInput"]]
    summary = " ".join(result.output.split())
    assert "3 inputs: 3 processed, 2 ok, 1 failed" in summary


def test_run_exits_0_when_all_succeed(tiny_model_dir: Path, tmp_path: Path) -> None:
    documents.invoice(tmp_path / "in")
    result = _run(
        "run",
        str(tmp_path / "in"),
        "--schema",
        SMALL,
        "--out",
        str(tmp_path / "out"),
        "--model",
        str(tiny_model_dir),
        "--max-new-tokens",
        "700",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert len(extractor.read(tmp_path / "out", "small")) == 1


def test_configuration_errors_exit_2(tmp_path: Path) -> None:
    documents.invoice(tmp_path)
    bad_schema = _run("run", str(tmp_path), "--schema", "no_such_schema", "--out", str(tmp_path / "o"))
    assert bad_schema.exit_code == 2 and "unknown schema" in bad_schema.output
    bad_model = _run(
        "run", str(tmp_path), "--schema", "invoice", "--out", str(tmp_path / "o"), "--model", str(tmp_path / "no-model")
    )
    assert bad_model.exit_code == 2 and "model not found" in bad_model.output
    bad_engine = _run("run", str(tmp_path), "--schema", "invoice", "--out", str(tmp_path / "o"), "--engine", "vllm9")
    assert bad_engine.exit_code == 2 and "unknown engine" in bad_engine.output
    bad_mode = _run("run", str(tmp_path), "--schema", "invoice", "--out", str(tmp_path / "o"), "--long-documents", "x")
    assert bad_mode.exit_code == 2 and "--long-documents" in bad_mode.output
    assert not (tmp_path / "o").exists()  # nothing written before the configuration is known good
    no_folder = _run("review", str(tmp_path / "nothing"))
    assert no_folder.exit_code == 2 and "no such output folder" in no_folder.output


def test_parse_and_schemas_commands(tmp_path: Path) -> None:
    path = documents.email_with_pdf(tmp_path)
    shown = _run("parse", str(path))
    assert shown.exit_code == 0 and "Attachment" in shown.output and "T-1001" in shown.output
    as_json = _run("parse", str(path), "--json")
    assert '"kind": "email"' in as_json.output
    broken = documents.write(tmp_path / "x.pdf", b"%PDF-1.1 no")
    assert _run("parse", str(broken)).exit_code == 1
    listed = _run("schemas")
    assert all(name in listed.output for name in ("invoice", "customer_email", "project_report"))
    fields = _run("schemas", "invoice")
    assert "line_items" in fields.output and "invoice_number" in fields.output


def test_synth_command(tmp_path: Path) -> None:
    result = _run("synth", "--schema", "customer_email", "--n", "6", "--seed", "3", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "labels.jsonl").read_text().splitlines()) == 6
    assert "quoted_reply" in result.output  # the held-out families are named
    assert _run("synth", "--schema", "nope", "--out", str(tmp_path)).exit_code == 2


def test_runner_option_and_the_old_engine_ray_spelling(tmp_path: Path, tiny_model_dir: Path) -> None:
    from extractor.job import Job
    from extractor.pipeline_ray import RayRunner

    def build(**options: object) -> Job:
        return Job.build([tmp_path], "invoice", model=str(tiny_model_dir), **options)  # type: ignore[arg-type]

    job = build(runner="ray", address="auto", actors=2)
    assert isinstance(job.runner, RayRunner) and job.runner.address == "auto" and job.runner.actors == 2
    assert job.engine.spec is not None and job.engine.spec[0] == "transformers"  # what Ray actors run by default
    old = build(engine="ray")  # `--engine ray`, deprecated: still runs on Ray
    assert isinstance(old.runner, RayRunner) and old.engine.spec is not None and old.engine.spec[0] == "transformers"
    local = build()
    assert local.runner is None and local.engine.spec is not None and local.engine.spec[0] == "transformers"
    refused = {"--runner cluster": "unknown runner 'cluster'", "--actors 2": "for --runner ray"}
    for option, message in refused.items():
        result = CliRunner().invoke(
            app, ["run", str(tmp_path), "--schema", "invoice", "--out", str(tmp_path / "out"), *option.split()]
        )
        assert result.exit_code == 2 and message in result.output, result.output
