"""What a run reads: files, folders (recursively) and globs, expanded once into a `Discovery`."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Discovery:
    """The expanded inputs: files in a stable order without repeats, and (input, reason) for
    each input that matched nothing."""

    files: tuple[Path, ...]
    missing: tuple[tuple[str, str], ...]

    def __len__(self) -> int:
        return len(self.files) + len(self.missing)


def discover(inputs: Iterable[str | os.PathLike[str]]) -> Discovery:
    """Expand files, folders (recursively; hidden files and folders skipped) and globs."""
    files: dict[Path, None] = {}
    missing: list[tuple[str, str]] = []
    for item in inputs:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(_walk(path))
            if not found:
                missing.append((text, f"folder has no files: {text}"))
            files.update(dict.fromkeys(found))
        elif path.exists() or path.is_symlink():
            files[path] = None
        elif _GLOB_CHARS & set(text):
            matched = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not matched:
                missing.append((text, f"no files match {text}"))
            files.update(dict.fromkeys(matched))
        else:
            missing.append((text, f"no such file or folder: {text}"))
    return Discovery(tuple(files), tuple(missing))


def _walk(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):  # does not follow symlinked folders
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith("."):
                yield Path(dirpath) / name
