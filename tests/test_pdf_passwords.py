"""Password-protected PDFs open with the passwords the user gives, and those never show anywhere."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner, Result

import extractor
from extractor.config import PDF_PASSWORDS_ENV, ParseLimits, RunConfig
from extractor.errors import ConfigError, EncryptedInput
from extractor.parse import parse_file
from extractor.parse.pool import ParsePool
from extractor.sink.ledger import LEDGER_NAME
from extractor.synth.render import email_message, html_pdf
from tests import documents

PASSWORD = "correct horse  battery ünï"  # two spaces and non-ASCII letters: taken literally
WRONG = ("hunter2", "correct horse battery ünï", " correct horse  battery ünï")
SMALL = str(Path(__file__).with_name("small_schema.py")) + ":Small"
EMPTY_SMALL = json.dumps(
    {
        "ref": None,
        "amount": None,
        "ratio": None,
        "day": None,
        "at": None,
        "paid": None,
        "kind": "a",
        "tags": [],
        "items": [],
    }
)


def _locked_pdf_bytes(user_pw: str = PASSWORD) -> bytes:
    import pymupdf

    doc = pymupdf.open(stream=html_pdf(["<p>Invoice LOCK-77, total 12.50</p>"]), filetype="pdf")
    return doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner only 9", user_pw=user_pw)


def _locked_pdf(folder: Path, name: str = "locked.pdf", user_pw: str = PASSWORD) -> Path:
    return documents.write(folder / name, _locked_pdf_bytes(user_pw))


def _limits(*passwords: str) -> ParseLimits:
    return ParseLimits(pdf_passwords=tuple(SecretStr(p) for p in passwords))


def _passwords_file(folder: Path, *lines: str, name: str = "passwords.txt") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes("\n".join(lines).encode("utf-8") + b"\n")
    return path


# Parsing -----------------------------------------------------------------------------------------


def test_without_a_password_the_error_says_one_is_needed_and_how_to_give_it(tmp_path: Path) -> None:
    with pytest.raises(EncryptedInput, match="password is needed") as caught:
        parse_file(_locked_pdf(tmp_path))
    assert "--pdf-passwords FILE" in str(caught.value) and PDF_PASSWORDS_ENV in str(caught.value)


def test_wrong_passwords_say_how_many_were_tried_never_which(tmp_path: Path) -> None:
    with pytest.raises(EncryptedInput, match="none of the 3 password") as caught:
        parse_file(_locked_pdf(tmp_path), _limits(*WRONG))
    assert "--pdf-passwords" in str(caught.value)
    assert not any(p.strip() in str(caught.value) for p in WRONG)


def test_the_right_password_among_several_opens_the_pdf(tmp_path: Path) -> None:
    doc = parse_file(_locked_pdf(tmp_path), _limits(*WRONG, PASSWORD))
    assert "LOCK-77" in doc.text and doc.metadata["page_count"] == 1


def test_an_empty_user_password_still_opens_without_any(tmp_path: Path) -> None:
    assert "LOCK-77" in parse_file(_locked_pdf(tmp_path, user_pw="")).text


def test_a_locked_pdf_attached_to_an_email(tmp_path: Path) -> None:
    mail = email_message(
        "a@example.org",
        "b@example.org",
        "statement",
        "the statement is attached",
        attachments=[("statement.pdf", "application/pdf", _locked_pdf_bytes())],
    )
    path = documents.write(tmp_path / "mail.eml", mail)
    opened = parse_file(path, _limits("hunter2", PASSWORD))
    assert "LOCK-77" in opened.text
    closed = parse_file(path, _limits("hunter2"))
    assert "LOCK-77" not in closed.text
    (note,) = closed.metadata["skipped_attachments"]
    assert "EncryptedInput" in note and "none of the 1 password" in note


def test_passwords_reach_a_parse_worker(tmp_path: Path) -> None:
    locked = _locked_pdf(tmp_path)
    with ParsePool(_limits("hunter2", PASSWORD), workers=1) as pool:
        (parsed,) = pool.map([locked])
    assert parsed.error is None and parsed.document is not None and "LOCK-77" in parsed.document.text
    with ParsePool(_limits("hunter2"), workers=1) as pool:
        (parsed,) = pool.map([locked])
    assert isinstance(parsed.error, EncryptedInput) and "none of the 1 password" in str(parsed.error)


# Configuration -----------------------------------------------------------------------------------


def test_a_passwords_file_is_read_literally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PDF_PASSWORDS_ENV, raising=False)
    path = tmp_path / "p.txt"
    path.write_bytes(b"\xef\xbb\xbf" + f"first\r\n\n  spaced out \n{PASSWORD}\n\nfirst\nlast".encode())
    read = ParseLimits.read_pdf_passwords(path)
    assert [p.get_secret_value() for p in read] == ["first", "  spaced out ", PASSWORD, "last"]
    assert ParseLimits.read_pdf_passwords(None) == ()


def test_the_environment_names_the_file_and_the_option_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PDF_PASSWORDS_ENV, str(_passwords_file(tmp_path, "from env", name="env.txt")))
    option = _passwords_file(tmp_path, "from option", name="option.txt")
    assert [p.get_secret_value() for p in ParseLimits.read_pdf_passwords()] == ["from env"]
    assert [p.get_secret_value() for p in ParseLimits.read_pdf_passwords(option)] == ["from option"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), (b"caf\xe9\n", "not UTF-8"), (b"\n\n", "holds no password")],
)
def test_a_bad_passwords_file_is_a_configuration_error(
    content: bytes | None, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        ParseLimits.read_pdf_passwords(path)
    monkeypatch.setenv(PDF_PASSWORDS_ENV, str(path))
    with pytest.raises(ConfigError, match=f"\\${PDF_PASSWORDS_ENV}.*{message}"):
        ParseLimits.read_pdf_passwords()


def test_a_configuration_never_shows_its_passwords() -> None:
    config = RunConfig(limits=_limits(PASSWORD, "hunter2"))
    shown = [
        repr(config),
        str(config),
        repr(config.limits),
        str(config.model_dump()),
        config.model_dump_json(),
        json.dumps(config.model_dump(mode="json")),
        str(config.limits.pdf_passwords),
    ]
    for text in shown:
        assert PASSWORD not in text and "hunter2" not in text
    assert "pdf_passwords" not in config.model_dump()["limits"]
    assert [p.get_secret_value() for p in config.limits.pdf_passwords] == [PASSWORD, "hunter2"]


# The command line end to end -----------------------------------------------------------------------


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """`extractor run` with a fake engine that answers every document with an empty Small record."""
    from extractor.engines import base
    from extractor.engines.fake import FakeEngine

    monkeypatch.setattr(
        base, "lazy_engine", lambda name, model, **options: FakeEngine(respond=lambda prompt: EMPTY_SMALL)
    )


def _run(*args: str, env: dict[str, str] | None = None) -> Result:
    from extractor.cli import app

    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def test_cli_opens_locked_pdfs_and_writes_no_password_anywhere(
    tmp_path: Path, fake_engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PDF_PASSWORDS_ENV, raising=False)
    inputs = tmp_path / "in"
    _locked_pdf(inputs, "opens.pdf")
    _locked_pdf(inputs, "stays-locked.pdf", user_pw="a password nobody gave")
    passwords = _passwords_file(tmp_path / "secrets", *WRONG, PASSWORD)
    out, log_file = tmp_path / "out", tmp_path / "logs" / "run.jsonl"
    base = ("run", str(inputs), "--schema", SMALL, "--out", str(out), "--model", "fake", "--quiet", "--show")
    result = _run(*base, "--pdf-passwords", str(passwords), "--log-file", str(log_file), "-vv")
    assert result.exit_code == 1, result.output
    rows = extractor.read(out, "small")
    errors = extractor.read(out, "small", errors=True)
    assert [Path(p).name for p in rows["source_path"]] == ["opens.pdf"]
    assert [(Path(p).name, t) for p, t in errors[["source_path", "error_type"]].values] == [
        ("stays-locked.pdf", "EncryptedInput")
    ]
    assert "none of the 4 password" in errors["message"].iloc[0]
    # Nothing the run wrote or printed holds a password: Parquet, ledger, JSON log, terminal.
    written = b"".join(p.read_bytes() for p in [*out.rglob("*"), log_file] if p.is_file())
    with sqlite3.connect(out / LEDGER_NAME) as ledger:
        dumped = "\n".join(ledger.iterdump())
    texts = [
        rows.to_json(date_format="iso", force_ascii=False),
        errors.to_json(date_format="iso", force_ascii=False),
        dumped,
        log_file.read_text(),
        result.output,
    ]
    for secret in (PASSWORD, *WRONG):
        assert secret.strip().encode() not in written
        assert not any(secret.strip() in text for text in texts)
    assert "document" in log_file.read_text()  # the log did record the documents


def test_cli_reads_the_passwords_file_from_the_environment(tmp_path: Path, fake_engine: None) -> None:
    _locked_pdf(tmp_path / "in")
    env = {PDF_PASSWORDS_ENV: str(_passwords_file(tmp_path, PASSWORD))}
    base = ("run", str(tmp_path / "in"), "--schema", SMALL, "--out", str(tmp_path / "out"), "--model", "fake", "-q")
    assert _run(*base, env=env).exit_code == 0
    missing = _run(*base, "--full", "--pdf-passwords", str(tmp_path / "nope.txt"), env=env)  # the option wins
    assert missing.exit_code == 2 and "cannot read" in missing.output


def test_cli_a_missing_passwords_file_exits_2_before_reading_anything(
    tmp_path: Path, fake_engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PDF_PASSWORDS_ENV, raising=False)
    _locked_pdf(tmp_path / "in")
    out = tmp_path / "out"
    base = ("run", str(tmp_path / "in"), "--schema", SMALL, "--out", str(out), "--model", "fake", "-q")
    result = _run(*base, "--pdf-passwords", str(tmp_path / "no-such-file.txt"))
    assert result.exit_code == 2, result.output
    assert "--pdf-passwords" in result.output and "no-such-file.txt" in result.output
    assert not out.exists()  # nothing planned, nothing read, nothing written
    monkeypatch.setenv(PDF_PASSWORDS_ENV, str(tmp_path / "gone.txt"))
    from_env = _run(*base)
    assert from_env.exit_code == 2 and PDF_PASSWORDS_ENV in from_env.output and not out.exists()
