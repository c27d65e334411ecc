"""Command-line options come from the configuration models: declared once, validated once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import typer
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from extractor.cli import app
from extractor.cli_options import config_options, options_of
from extractor.config import MB, Cli, NightlyOptions, ParseLimits, RunConfig
from extractor.finetune.config import FinetuneConfig


def _flags(command: str) -> dict[str, Any]:
    """The options of `extractor COMMAND` as click sees them, by each of their spellings."""
    cmd = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return {decl: p for p in cmd.params if p.param_type_name == "option" for decl in (*p.opts, *p.secondary_opts)}


@pytest.mark.parametrize(
    ("command", "models"),
    [("run", (RunConfig, ParseLimits, NightlyOptions)), ("finetune", (FinetuneConfig,)), ("parse", (ParseLimits,))],
)
def test_every_setting_is_an_option_with_its_description(command: str, models: tuple[type[BaseModel], ...]) -> None:
    flags = _flags(command)
    for model in models:
        for name, field in model.model_fields.items():
            cli = next((m for m in field.metadata if isinstance(m, Cli)), Cli())
            if cli.hidden or name == "limits":
                assert f"--{name.replace('_', '-')}" not in flags
                continue
            flag = f"--{cli.flag or name.replace('_', '-')}"
            assert flag in flags, f"{model.__name__}.{name} has no option {flag} on `extractor {command}`"
            assert field.description and flags[flag].help and field.description.rstrip(".") in flags[flag].help


def test_run_options_reach_the_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import extractor.pipeline

    jobs: list[Any] = []

    def execute(job: Any, **hooks: Any) -> Any:
        jobs.append(job)
        raise typer.Exit(0)

    monkeypatch.setattr(extractor.pipeline, "execute", execute)
    given = "--max-pages 7 --max-file-mb 0.5 --no-ocr --decoding json --min-confidence 0.4 --full --commit-every 5"
    result = CliRunner().invoke(
        app, ["run", str(tmp_path), "-s", "invoice", "-o", str(tmp_path / "out"), "--model", "embedded", *given.split()]
    )
    assert result.exit_code == 0, result.output
    (job,) = jobs
    assert job.config.limits.max_pages == 7 and job.config.limits.max_file_bytes == MB // 2
    assert job.config.limits.ocr is False and job.config.decoding == "json" and job.config.min_confidence == 0.4
    assert job.nightly.full is True and job.nightly.commit_every == 5 and job.nightly.max_attempts == 3
    assert job.config.batch_size == RunConfig().batch_size  # what is not given keeps the model's default


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--max-file-mb 0", "--max-file-mb: Input should be greater than 0"),
        ("--parse-timeout -1", "--parse-timeout: Input should be greater than 0"),
        ("--ocr-lang e;rm", "--ocr-lang: String should match pattern"),
        ("--commit-interval-s 0", "--commit-interval-s: Input should be greater than 0"),
    ],
)
def test_a_refused_value_exits_2_naming_the_option(tmp_path: Path, option: str, message: str) -> None:
    result = CliRunner().invoke(
        app, ["run", str(tmp_path), "-s", "invoice", "-o", str(tmp_path / "o"), *option.split()]
    )
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "o").exists()


def test_finetune_options_reach_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import extractor.finetune

    configs: list[FinetuneConfig] = []

    def finetune(*args: Any, config: FinetuneConfig, **kwargs: Any) -> Any:
        configs.append(config)
        raise typer.Exit(0)

    monkeypatch.setattr(extractor.finetune, "finetune", finetune)
    paths = ["--train", str(tmp_path), "--dev", str(tmp_path), "--out", str(tmp_path / "a")]
    given = "--lr 0.01 --target-modules q_proj,v_proj --epochs 2 --decoding json"
    result = CliRunner().invoke(app, ["finetune", "-s", "invoice", *paths, *given.split()])
    assert result.exit_code == 0, result.output
    (config,) = configs
    assert config.learning_rate == 0.01 and config.target_modules == ("q_proj", "v_proj")
    assert config.epochs == 2 and config.decoding == "json" and config.rank == FinetuneConfig().rank


class _Inner(BaseModel):
    size_bytes: Annotated[int, Cli("size-kb", per_unit=1024)] = Field(2048, gt=0, description="How big")
    secret: Annotated[str, Cli(hidden=True)] = "kept"


class _Settings(BaseModel):
    mode: Literal["a", "b"] = Field("a", description="Which mode")
    inner: _Inner = _Inner()
    tags: tuple[str, ...] = Field(("x",), description="Tags")


def test_a_new_field_is_an_option_without_touching_the_command() -> None:
    toy = typer.Typer()
    seen: list[_Settings] = []

    @toy.command()
    @config_options(settings=_Settings)
    def command(name: Annotated[str, typer.Argument()], settings: _Settings) -> None:
        seen.append(settings)
        print(name)

    assert [o.flag for o in options_of("settings", _Settings)] == ["mode", "size-kb", "tags"]
    result = CliRunner().invoke(toy, ["n1", "--mode", "b", "--size-kb", "3", "--tags", "p, q"])
    assert result.exit_code == 0, result.output
    assert seen[-1] == _Settings(mode="b", inner=_Inner(size_bytes=3072), tags=("p", "q"))
    assert CliRunner().invoke(toy, ["n2"]).exit_code == 0 and seen[-1] == _Settings()
    assert CliRunner().invoke(toy, ["n3", "--secret", "x"]).exit_code == 2  # hidden: the API's only
    assert CliRunner().invoke(toy, ["n4", "--mode", "c"]).exit_code == 2


def test_an_option_declared_twice_is_refused_when_the_command_is_defined() -> None:
    class Clash(BaseModel):
        batch_size: int = 1

    with pytest.raises(TypeError, match="declared twice"):
        config_options(config=RunConfig, other=Clash)(lambda config, other: None)
