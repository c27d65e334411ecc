"""Parse failures are classified by where they happen: a library failing on a file is that file's
`ParserCrashed` row; extractor's own code failing is a bug, `ParserBug`: raised when strict (as in
this suite), else an error row that says so, its traceback logged at ERROR. In a parse worker and
in-process (`parse_workers=0`) alike."""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from extractor import faults
from extractor.config import ParseLimits, RunConfig
from extractor.engines.fake import FakeEngine
from extractor.errors import DocumentError, ParserBug, ParserCrashed
from extractor.parse import detect_kind
from extractor.parse.pool import Parsed, ParsePool, parse_serially, parser_failure
from extractor.pipeline import run
from extractor.schema import load_schema
from tests.test_pipeline import GOOD_ANSWER

ROOT = Path(__file__).resolve().parent.parent
BUG = "parse bug.txt=raise"  # faults.point raises a RuntimeError in extractor/faults.py: our code
FAKELIB = 'def read(data):\n    raise ValueError("fakelib cannot read this file")\n'

Parse = Callable[..., list[Parsed]]


@pytest.fixture(autouse=True)
def fresh_fault_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults, "_hits", {})  # in-process, a point counts its hits across tests


@pytest.fixture(params=["worker", "in-process"])
def parse(request: pytest.FixtureRequest) -> Parse:
    def parse(paths: list[Path], strict: bool | None = None) -> list[Parsed]:
        if request.param == "in-process":
            return list(parse_serially(paths, ParseLimits(), strict=strict))
        with ParsePool(ParseLimits(), workers=1, strict=strict) as pool:
            return list(pool.map(paths))

    return parse


def _files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.txt", "bug.txt", "c.txt"):
        (folder / name).write_text(f"Invoice {name}")
    return sorted(folder.iterdir())


def test_a_bug_in_our_code_raises_under_strict(parse: Parse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXTRACTOR_FAULT", BUG)
    with pytest.raises(ParserBug, match="internal error in extractor") as caught:
        parse(_files(tmp_path))  # strict from EXTRACTOR_STRICT=1 (conftest)
    assert not isinstance(caught.value, DocumentError)
    assert "RuntimeError: fault injected" in str(caught.value)
    shown = "".join(traceback.format_exception(caught.value))
    assert "extractor/faults.py" in shown and 'raise RuntimeError(f"fault injected' in shown  # where it happened


def test_a_bug_in_our_code_is_an_error_row_and_an_error_log_when_not_strict(
    parse: Parse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("EXTRACTOR_FAULT", BUG)
    with caplog.at_level(logging.WARNING, logger="extractor"):
        results = {p.path.name: p for p in parse(_files(tmp_path), strict=False)}
    assert results["a.txt"].document is not None and results["c.txt"].document is not None
    error = results["bug.txt"].error
    assert isinstance(error, ParserBug) and "a bug in extractor" in str(error) and "please report it" in str(error)
    (logged,) = caplog.records
    assert logged.levelno == logging.ERROR and "bug.txt" in logged.getMessage()
    trace = logged.getMessage() + (logging.Formatter().formatException(logged.exc_info) if logged.exc_info else "")
    assert "extractor/faults.py" in trace and "RuntimeError: fault injected" in trace


def test_strict_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ParsePool(ParseLimits()).strict  # conftest sets EXTRACTOR_STRICT=1
    monkeypatch.setenv("EXTRACTOR_STRICT", "0")
    assert not ParsePool(ParseLimits()).strict and ParsePool(ParseLimits(), strict=True).strict


@pytest.mark.parametrize("parse_workers", [1, 0])
def test_in_a_run_a_bug_is_an_error_row_unless_on_error_is_raise(
    parse_workers: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXTRACTOR_FAULT", BUG)
    monkeypatch.setenv("EXTRACTOR_STRICT", "0")  # production
    folder = _files(tmp_path)[0].parent
    engine = FakeEngine(respond=lambda prompt: GOOD_ANSWER)
    config = RunConfig(decoding="json", parse_workers=parse_workers)
    result = run([folder], load_schema("invoice"), engine, config)
    errors = {Path(r.source).name: r.error for r in result.records if r.error}
    assert list(errors) == ["bug.txt"] and errors["bug.txt"].type == "ParserBug" and result.ok == 2
    assert "internal error" in errors["bug.txt"].message
    monkeypatch.setattr(faults, "_hits", {})
    with pytest.raises(ParserBug) as caught:
        run([folder], load_schema("invoice"), engine, config.model_copy(update={"on_error": "raise"}))
    assert "extractor/faults.py" in "".join(traceback.format_exception(caught.value))


# A library failing on a file -----------------------------------------------------------------------


@pytest.fixture
def fakelib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in third-party library that fails on every file, wired in as the text parser of
    both this process and parse workers (through a sitecustomize that each worker imports)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "fakelib.py").write_text(FAKELIB)
    (site / "sitecustomize.py").write_text(
        "import extractor.parse.text, fakelib\n"
        "extractor.parse.text.parse_text = lambda data, out, html=False: fakelib.read(data)\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.syspath_prepend(str(site))
    sys.modules.pop("fakelib", None)
    import fakelib

    import extractor.parse.text

    monkeypatch.setattr(extractor.parse.text, "parse_text", lambda data, out, html=False: fakelib.read(data))
    return site


def test_a_library_failing_on_a_file_is_a_parser_crashed_row(
    parse: Parse, fakelib: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="extractor"):
        (parsed, *_) = parse(_files(tmp_path))  # strict, and still no raise: not our bug
    assert isinstance(parsed.error, ParserCrashed)
    assert str(parsed.error) == "the parser failed: ValueError: fakelib cannot read this file"
    assert {r.levelno for r in caplog.records} == {logging.WARNING}
    logged = caplog.records[0]
    trace = logged.getMessage() + (logging.Formatter().formatException(logged.exc_info) if logged.exc_info else "")
    assert "fakelib.py" in trace and "ValueError" in trace


def _raised(call: Callable[[], object]) -> Exception:
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("nothing raised")


def test_failures_are_classified_by_their_innermost_frame() -> None:
    library = _raised(lambda: json.loads("{not json"))  # raised inside the json package
    ours = _raised(lambda: detect_kind(None, b""))  # type: ignore[arg-type]  # AttributeError in extractor/parse
    assert isinstance(parser_failure(library), ParserCrashed)
    assert isinstance(parser_failure(ours), ParserBug)
