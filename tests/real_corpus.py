"""Find the corpus of real public documents (data/real/) from tests.

The documents are not in the repository: `make test` builds them first with
`python data/real/build_corpus.py --ensure`, from local mirrors of the pinned commits, and where no
mirror is available they are absent. The manifest (committed) is always there, so the list of files
is known either way; a test that opens the files skips when the corpus is not built:

    from tests.real_corpus import corpus_files, corpus_params, requires_corpus

    @requires_corpus
    def test_every_real_pdf_parses():
        for path in corpus_files("pdf"):
            ...

    @pytest.mark.parametrize("path", corpus_params("email"))  # one test per file, skipped when absent
    def test_one_real_email(path): ...

Or call `skip_unless_built()` inside a test or fixture.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

REAL = Path(__file__).resolve().parent.parent / "data" / "real"
KINDS = ("email", "msg", "pdf", "image")
SKIP_REASON = (
    "the real-document corpus (data/real/) is not built: run `python data/real/build_corpus.py --ensure` "
    "(needs local mirrors of its source repositories; see data/real/README.md)"
)


@cache
def manifest() -> tuple[dict[str, str], ...]:
    """The rows of data/real/manifest.csv (path, kind, repo, commit, source_path, licence, sha256, bytes,
    notes); committed, so available whether or not the documents are built."""
    with (REAL / "manifest.csv").open(newline="", encoding="utf-8") as f:
        return tuple(csv.DictReader(f))


def corpus_rows(kind: str | None = None, *, source: str | None = None) -> list[dict[str, str]]:
    """Manifest rows of one kind ("email", "msg", "pdf", "image"; None: all) and, optionally, one source
    folder ("tika", "pypdf", ...), in manifest order."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    return [
        row
        for row in manifest()
        if (kind is None or row["kind"] == kind) and (source is None or row["path"].split("/")[1] == source)
    ]


def corpus_files(kind: str | None = None, *, source: str | None = None) -> list[Path]:
    """Absolute paths of the corpus files of one kind (and source), from the manifest. Does not check that
    they exist: mark the test `requires_corpus` or call `skip_unless_built()`."""
    return [REAL / row["path"] for row in corpus_rows(kind, source=source)]


@cache
def corpus_built() -> bool:
    """Whether every file the manifest lists is present (existence only; the SHA-256s are checked by
    tests/test_real_manifest.py and by build_corpus.py)."""
    return all((REAL / row["path"]).is_file() for row in manifest())


# Marks a test (or, as `pytestmark = requires_corpus`, a module) that skips when the corpus is not built.
requires_corpus = pytest.mark.skipif(not corpus_built(), reason=SKIP_REASON)


def skip_unless_built() -> None:
    """Skip the calling test or fixture when the corpus is not built."""
    if not corpus_built():
        pytest.skip(SKIP_REASON)


def corpus_params(kind: str | None = None, *, source: str | None = None) -> list:
    """`pytest.param`s for `parametrize`, one per file, with the corpus path as id and marked
    `requires_corpus`."""
    return [
        pytest.param(REAL / row["path"], id=row["path"], marks=requires_corpus)
        for row in corpus_rows(kind, source=source)
    ]


def expected_emails() -> list[dict]:
    """data/real/expected/email.jsonl: the fields the source projects' own tests assert for some e-mails
    and .msg files (keys documented in data/real/README.md); `path` is relative to data/real/."""
    lines = (REAL / "expected" / "email.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@cache
def build_corpus() -> ModuleType:
    """data/real/build_corpus.py as a module (SOURCES, read_manifest, check_metadata, verify, ...)."""
    spec = importlib.util.spec_from_file_location("build_corpus", REAL / "build_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module
