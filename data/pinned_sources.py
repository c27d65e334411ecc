"""What the scripts that rebuild data from pinned commits of local git mirrors share.

Used by data/real/build_corpus.py and bench/real_sets/build_sets.py, each of which puts this folder on
sys.path and imports it; standard library only. A repository copy (a clone or a bare mirror) is found
as `owner+name/repo`, `owner+name` or `owner/name` under the folders in $EXTRACTOR_MIRRORS (several
joined with `:`), else under /work/.mirror, and files are read from it with `git cat-file` at a pinned
commit. A build writes into a staging folder, verifies that against the committed manifest, and only
then swaps the folders it generates into place; `ensure` builds only when the files are not whole.
What each script builds, its manifest's columns and what it prints are the script's own.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MIRRORS = Path("/work/.mirror")


class MirrorError(Exception):
    """A repository copy, commit or file that a build needs is not available on this machine."""


def mirror_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where to look for repository copies: $EXTRACTOR_MIRRORS (`:`-separated), if unset or empty /work/.mirror."""
    value = (os.environ if environ is None else environ).get("EXTRACTOR_MIRRORS")
    if not value:
        return [DEFAULT_MIRRORS]
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part]


def find_git_dir(mirrors: Sequence[Path], repo: str) -> Path:
    """The git directory of a local copy of `repo` under one of `mirrors`."""
    owner, name = repo.split("/")
    for folder in mirrors:
        for base in (folder / f"{owner}+{name}" / "repo", folder / f"{owner}+{name}", folder / owner / name):
            for candidate in (base / ".git", base):
                if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
                    return candidate
    raise MirrorError(f"no local copy of {repo} (tried owner+name/repo, owner+name, owner/name)")


def find_git_dirs(mirrors: Sequence[Path], repos: Iterable[str]) -> dict[str, Path]:
    """The git directory of each of `repos` (in their order); one MirrorError naming every one missing."""
    found: dict[str, Path] = {}
    missing = []
    for repo in dict.fromkeys(repos):
        try:
            found[repo] = find_git_dir(mirrors, repo)
        except MirrorError:
            missing.append(repo)
    if missing:
        raise MirrorError(f"no local copy of {', '.join(missing)} under {', '.join(map(str, mirrors))}")
    return found


def git(git_dir: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """`git --git-dir git_dir args...`, its output captured; MirrorError when git is not installed."""
    try:
        return subprocess.run(["git", "--git-dir", str(git_dir), *args], input=stdin, capture_output=True, check=False)
    except FileNotFoundError as error:
        raise MirrorError("git is not installed") from error


def read_blob(git_dir: Path, spec: str, label: str) -> bytes:
    """The bytes of `spec` (`commit:path`), read by one `git cat-file blob`; `label` names the copy in errors."""
    result = git(git_dir, "cat-file", "blob", spec)
    if result.returncode != 0:
        raise MirrorError(f"{label}: cannot read {spec} (is the commit in this copy?)")
    return result.stdout


def read_blobs(git_dir: Path, names: Sequence[str]) -> dict[str, bytes]:
    """The bytes of each `commit:path` in `names`, read by one `git cat-file --batch`."""
    result = git(git_dir, "cat-file", "--batch", stdin="".join(f"{name}\n" for name in names).encode())
    if result.returncode != 0:
        raise MirrorError(f"{git_dir}: git cat-file failed: {result.stderr.decode(errors='replace').strip()}")
    out, position, blobs = result.stdout, 0, {}
    for name in names:
        end = out.index(b"\n", position)
        header = out[position:end].decode(errors="replace").split(" ")
        if len(header) != 3 or header[1] != "blob":
            raise MirrorError(f"{git_dir}: cannot read {name} (is the commit in this copy?)")
        size = int(header[2])
        blobs[name] = out[end + 1 : end + 1 + size]
        position = end + 1 + size + 1  # the content is followed by a newline
    return blobs


# ------------------------------------------------------------------------------------ files, manifest


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_csv(path: Path) -> list[dict[str, str]]:
    """A CSV file with a header (a manifest, a list of picks) as a list of rows (column name -> text)."""
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_manifest(path: Path, rows: Iterable[dict[str, str]], columns: Sequence[str]) -> None:
    """`rows` as a manifest with these `columns`, sorted by path, lines ending in `\\n`."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["path"]))


def unlisted_files(root: Path, folders: Iterable[str], listed: set[str]) -> list[str]:
    """A problem for each file under `root`/<folder> whose path (relative to `root`) is not `listed`."""
    return [
        f"{rel}: not in the manifest"
        for folder in folders
        for file in sorted((root / folder).rglob("*"))
        if file.is_file() and (rel := file.relative_to(root).as_posix()) not in listed
    ]


# ---------------------------------------------------------------------------------------------- build


@contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """One build at a time under `root` (two `make test` runs may start together)."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: no lock
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".build.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_staged(
    root: Path,
    generated: Sequence[str],
    files: Mapping[str, bytes],
    verify: Callable[[Path], list[str]],
    manifest: Path,
    new_rows: Iterable[dict[str, str]] | None = None,
    columns: Sequence[str] = (),
    copies: Sequence[str] = (),
) -> list[str]:
    """Write `files` (path under `root` -> bytes) into a staging folder under `root`, verify it, swap it in.

    The staging folder also gets copies of `copies` (files or folders under `root` that `verify` reads)
    and a manifest.csv: `new_rows` written with `columns`, or else a copy of `manifest`. Only if
    verify(staging) finds no problem is each of `generated` swapped into `root` whole (the old ones go
    with the staging folder) and, given `new_rows`, `manifest` replaced by the one written. On any
    problem or error nothing under `root` (nor `manifest`) has changed; the problems are returned.
    The caller holds build_lock(root).
    """
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".build-*"):  # left by a killed build; the lock says none is running
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=root) as tmp:
        staging = Path(tmp)
        for path, data in files.items():
            (staging / path).parent.mkdir(parents=True, exist_ok=True)
            (staging / path).write_bytes(data)
        for name in copies:
            if (root / name).is_dir():
                shutil.copytree(root / name, staging / name)
            elif (root / name).exists():
                shutil.copy2(root / name, staging / name)
        staged_manifest = staging / "manifest.csv"
        if new_rows is not None:
            write_manifest(staged_manifest, new_rows, columns)
        else:
            shutil.copy2(manifest, staged_manifest)
        problems = verify(staging)
        if problems:
            return problems
        for name in generated:
            if (root / name).exists():
                (root / name).rename(staging / f"old-{name}")
            if (staging / name).exists():
                (staging / name).rename(root / name)
        if new_rows is not None:
            shutil.move(staged_manifest, manifest)
    return []


@dataclass(frozen=True)
class Texts:
    """What ensure() prints for one script: str.format templates over the fields in brackets."""

    name: str  # what the status lines start with ("data/real")
    damaged: str  # the state of files that are there but not whole [count, first (problem)]
    building: str  # [name, state, folders]
    no_mirrors: str  # warning when no mirror folder exists [state, where, consequence, how]
    cannot_build: str  # warning when a mirror lacks a repository, commit or file [error, consequence, how]
    mismatch: str  # the start of the error when the build does not match the manifest
    how: str  # how to get the mirrors and build
    consequence: tuple[str, str] = ("", "")  # of staying unbuilt: (when nothing was built, when damaged)


def ensure(
    root: Path,
    mirrors: Sequence[Path] | None,
    *,
    generated: Sequence[str],
    verify: Callable[[Path], list[str]],
    build: Callable[[Sequence[Path], Path], list[str]],
    describe: Callable[[], str],
    texts: Texts,
) -> int:
    """Build unless the files under `root` are already whole; 0 unless a build went wrong.

    Without a mirror folder (`mirrors`, by default mirror_dirs()), or when a mirror lacks something
    (MirrorError from `build`), it warns and returns 0, nothing changed: the data stays unbuilt.
    """
    started = time.monotonic()
    whole = f"{texts.name}: {{}} present and verified against manifest.csv; nothing to build"
    problems = verify(root)
    if not problems:
        print(whole.format(describe()))
        return 0
    from_nothing = not any((root / name).exists() for name in generated)
    candidates = mirror_dirs() if mirrors is None else mirrors
    folders = [d for d in candidates if d.is_dir()]
    fields = {
        "name": texts.name,
        "state": "not built" if from_nothing else texts.damaged.format(count=len(problems), first=problems[0]),
        "consequence": texts.consequence[0 if from_nothing else 1],
        "how": texts.how,
        "where": ", ".join(map(str, candidates)),
        "folders": ", ".join(map(str, folders)),
    }
    if not folders:
        print(texts.no_mirrors.format(**fields), file=sys.stderr)
        return 0
    with build_lock(root):
        if not verify(root):  # built by another run while this one waited for the lock
            print(whole.format(describe()))
            return 0
        print(texts.building.format(**fields), flush=True)
        try:
            problems = build(folders, root)
        except MirrorError as error:
            print(texts.cannot_build.format(error=error, **fields), file=sys.stderr)
            return 0
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{texts.mismatch} ({len(problems)} problem(s)); nothing was changed", file=sys.stderr)
        return 1
    print(f"{texts.name}: built {describe()} in {time.monotonic() - started:.1f} s; verified against manifest.csv")
    return 0


def report(problems: list[str], describe: Callable[[], str]) -> int:
    """Print the problems, then `<description>: OK` or `: PROBLEMS`; the exit status."""
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{describe()}: {'OK' if not problems else 'PROBLEMS'}")
    return 1 if problems else 0


def rebuild(root: Path, build: Callable[[], list[str]], describe: Callable[[], str]) -> int:
    """build() under build_lock(root), then report(); exit status 1 with the error when a mirror lacks something."""
    try:
        with build_lock(root):
            problems = build()
    except MirrorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return report(problems, describe)
