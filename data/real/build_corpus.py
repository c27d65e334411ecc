"""Re-create or verify the corpus of real public documents under data/real/.

The documents are not in the repository: only this script, `sources.csv`, `manifest.csv` and the
expectations under `expected/` are. `sources.csv` lists every file (source, path in its repository,
path here, notes), `SOURCES` below gives each source's repository, commit and licence, and
`manifest.csv` pins each file's SHA-256. Nothing is chosen at build time, so a rebuild from the same
commits gives the same bytes.

    python data/real/build_corpus.py --ensure        # build if missing or damaged, checked against manifest.csv
    python data/real/build_corpus.py --verify        # only check manifest.csv against the files
    python data/real/build_corpus.py --mirrors DIR   # after editing sources.csv: rebuild and rewrite manifest.csv

A build reads each file with `git cat-file` from a local copy of its repository (a clone or a bare
mirror) found as `owner+name/repo`, `owner+name` or `owner/name` under the folders in
$EXTRACTOR_MIRRORS (several joined with `:`), else under /work/.mirror. It needs no network. It
writes into a staging folder, verifies that, and only then moves the kind folders and LICENSES/ into
place, so a failed or interrupted build never leaves half a corpus. `--ensure` without any mirror
folder prints a warning (the tests that need the documents skip) and exits 0.
`--verify` needs only the standard library and this folder; `tests/test_real_manifest.py` runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))  # data/, for the shared pinned_sources.py
import pinned_sources as pinned

ROOT = Path(__file__).resolve().parent
KINDS = ("email", "msg", "pdf", "image")
MANIFEST_COLUMNS = ("path", "kind", "repo", "commit", "source_path", "licence", "sha256", "bytes", "notes")
MAX_TOTAL_BYTES = 30 * 1024 * 1024
MAX_FILE_BYTES = 3 * 1024 * 1024
GENERATED = (*KINDS, "LICENSES")  # what a build writes; ignored by Git, never committed
ENSURE_COMMAND = "python data/real/build_corpus.py --ensure"


@dataclass(frozen=True)
class Source:
    """One repository (or one separately licensed folder of it) that corpus files come from."""

    repo: str
    commit: str
    licence: str  # SPDX identifier
    licence_path: str  # the licence text inside the repository
    licence_copy: str  # its copy under LICENSES/
    notice_path: str = ""  # an Apache NOTICE file, copied beside the licence


SOURCES: dict[str, Source] = {
    "mikel-mail": Source(
        "mikel/mail", "d645d7b5b7d03218b0bc8971ef041c991a63f5f7", "MIT", "MIT-LICENSE", "mikel__mail.txt"
    ),
    # CPython's Lib/test/test_email/data, as vendored unchanged in RustPython's Lib/ (PSF licence).
    "cpython": Source(
        "RustPython/RustPython",
        "cc1e55e3e43f14a673901ea78ccb426ecb6c3bbb",
        "PSF-2.0",
        "Lib/PSF-LICENSE",
        "RustPython__RustPython.txt",
    ),
    "mime4j": Source(
        "apache/james-mime4j",
        "2602a9a9703db9df4088b7e88bf8a307ecdfe968",
        "Apache-2.0",
        "LICENSE",
        "apache__james-mime4j.txt",
        "NOTICE",
    ),
    # The MIME-tools (Perl) test messages that mime4j ships, under their own Artistic licence.
    "mime-tools": Source(
        "apache/james-mime4j",
        "2602a9a9703db9df4088b7e88bf8a307ecdfe968",
        "Artistic-1.0-Perl",
        "core/src/test/resources/mimetools-testmsgs/ARTISTIC-LICENSE.txt",
        "apache__james-mime4j__mime-tools.txt",
    ),
    "postal-mime": Source(
        "postalsys/postal-mime",
        "e7c35dd9fcddaf73a1359256b1e4865e5cd33521",
        "MIT",
        "LICENSE.txt",
        "postalsys__postal-mime.txt",
    ),
    "mailparser": Source(
        "nodemailer/mailparser",
        "bb1881eb35c0d406c68c8613443827ccbad00065",
        "MIT",
        "LICENSE",
        "nodemailer__mailparser.txt",
    ),
    "php-imap": Source(
        "Webklex/php-imap", "5656386a3597dacf93f8887d2016ed3cea2adbb7", "MIT", "LICENSE", "Webklex__php-imap.txt"
    ),
    "tika": Source(
        "apache/tika",
        "2b70202aaec3db48fd5ff4d996d974444a750a11",
        "Apache-2.0",
        "LICENSE.txt",
        "apache__tika.txt",
        "NOTICE.txt",
    ),
    "unstructured": Source(
        "Unstructured-IO/unstructured",
        "3e5482bfcdc843b5218ad98d2845b4b71ab013b7",
        "Apache-2.0",
        "LICENSE.md",
        "Unstructured-IO__unstructured.txt",
    ),
    "docling": Source(
        "docling-project/docling",
        "e1cb2b234c48ff29746b0f2f843d07f8e23905a0",
        "MIT",
        "LICENSE",
        "docling-project__docling.txt",
    ),
    "poi": Source(
        "apache/poi",
        "a528d43590b3f71aa94310de881a35af887fdd0f",
        "Apache-2.0",
        "legal/LICENSE",
        "apache__poi.txt",
        "legal/NOTICE",
    ),
    "outlook-message-parser": Source(
        "bbottema/outlook-message-parser",
        "98add3208b6f483b5c529d99771508f1c4a4beb2",
        "Apache-2.0",
        "LICENSE-2.0.txt",
        "bbottema__outlook-message-parser.txt",
        "NOTICE.txt",
    ),
    "msg-parser": Source(
        "vikramarsid/msg_parser",
        "d16260df42658531a4342baf0d895c3d4ba5d1e4",
        "BSD-2-Clause",
        "LICENSE",
        "vikramarsid__msg_parser.txt",
    ),
    "pypdf": Source(
        "py-pdf/pypdf", "f6853ccd3ff492309c84060186aabc88ed472ffd", "BSD-3-Clause", "LICENSE", "py-pdf__pypdf.txt"
    ),
    "pdfplumber": Source(
        "jsvine/pdfplumber",
        "147f2c4c07dc1191fc1d05bb589b4f6af3aaf74a",
        "MIT",
        "LICENSE.txt",
        "jsvine__pdfplumber.txt",
    ),
    "camelot": Source(
        "camelot-dev/camelot",
        "2b80d0bc692d1b22203c3385e77da8201675aa50",
        "MIT",
        "LICENSE",
        "camelot-dev__camelot.txt",
    ),
    "factur-x": Source(
        "akretion/factur-x",
        "5edb9af9186e5f06f446372688e6fdbbd0b790d3",
        "BSD-3-Clause",
        "LICENSE.txt",
        "akretion__factur-x.txt",
    ),
    "mustangproject": Source(
        "ZUGFeRD/mustangproject",
        "096db40a9806b0b5202028509dff3563efe7fc8c",
        "Apache-2.0",
        "LICENSE",
        "ZUGFeRD__mustangproject.txt",
    ),
    "donut": Source(
        "clovaai/donut", "4cfcf972560e1a0f26eb3e294c8fc88a0d336626", "MIT", "LICENSE", "clovaai__donut.txt"
    ),
    "tesseract-test": Source(
        "tesseract-ocr/test",
        "232ff181c66516116ec0e84c4963f70de15050fd",
        "Apache-2.0",
        "LICENSE",
        "tesseract-ocr__test.txt",
    ),
}


@dataclass(frozen=True)
class Pick:
    """One row of sources.csv: a file of a source and where it goes here."""

    source: str
    source_path: str
    path: str
    notes: str

    @property
    def kind(self) -> str:
        return self.path.split("/", 1)[0]


def read_picks(root: Path = ROOT) -> list[Pick]:
    """The pinned selection, in file order."""
    rows = pinned.read_csv(root / "sources.csv")
    return [Pick(r["source"], r["source_path"], r["path"], r["notes"]) for r in rows]


def read_manifest(root: Path = ROOT) -> list[dict[str, str]]:
    """manifest.csv as a list of rows (column name -> text)."""
    return pinned.read_csv(root / "manifest.csv")


# ---------------------------------------------------------------------------------------------- build


def build(mirrors: Sequence[Path], root: Path = ROOT, *, rewrite_manifest: bool = False) -> list[str]:
    """Build the documents and LICENSES/ from local repository copies; return the problems found.

    Everything is written to a staging folder under `root` and verified there; only a corpus without
    problems is moved into place (the kind folders and LICENSES/ are swapped whole), so on any problem
    or error nothing under `root` has changed. The files are checked against the committed
    manifest.csv, unless `rewrite_manifest` (after sources.csv was edited): then manifest.csv is
    written anew from the files. Raises pinned.MirrorError when a repository copy, commit or file is missing.
    The caller holds pinned.build_lock(root).
    """
    picks = read_picks(root)
    git_dirs = pinned.find_git_dirs(mirrors, sorted({source.repo for source in SOURCES.values()}))
    wanted: dict[str, list[str]] = {repo: [] for repo in git_dirs}
    for source in SOURCES.values():
        wanted[source.repo] += [f"{source.commit}:{p}" for p in (source.licence_path, source.notice_path) if p]
    for pick in picks:
        source = SOURCES[pick.source]
        wanted[source.repo].append(f"{source.commit}:{pick.source_path}")
    blobs = {repo: pinned.read_blobs(git_dirs[repo], sorted(set(names))) for repo, names in wanted.items()}

    files: dict[str, bytes] = {}
    for source in SOURCES.values():
        repo_blobs = blobs[source.repo]
        files[f"LICENSES/{source.licence_copy}"] = repo_blobs[f"{source.commit}:{source.licence_path}"]
        if source.notice_path:
            notice = source.licence_copy.removesuffix(".txt") + ".NOTICE.txt"
            files[f"LICENSES/{notice}"] = repo_blobs[f"{source.commit}:{source.notice_path}"]
    rows = []
    for pick in picks:
        source = SOURCES[pick.source]
        data = files[pick.path] = blobs[source.repo][f"{source.commit}:{pick.source_path}"]
        rows.append(
            {
                "path": pick.path,
                "kind": pick.kind,
                "repo": source.repo,
                "commit": source.commit,
                "source_path": pick.source_path,
                "licence": source.licence,
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": str(len(data)),
                "notes": pick.notes,
            }
        )
    new_rows = rows if rewrite_manifest else None
    copies = ("sources.csv", "expected")  # what check_metadata reads besides the manifest
    manifest = root / "manifest.csv"
    return pinned.build_staged(root, GENERATED, files, verify, manifest, new_rows, MANIFEST_COLUMNS, copies)


def describe(root: Path = ROOT) -> str:
    rows = read_manifest(root)
    return f"{len(rows)} files, {sum(int(r['bytes']) for r in rows) / 1e6:.1f} MB"


ENSURE_TEXTS = pinned.Texts(
    name="data/real",
    damaged="damaged ({count} problem(s), first: {first})",
    building="{name}: corpus {state}; building it from {folders} ...",
    no_mirrors="warning: the real-document corpus (data/real/) is {state}, and no mirror folder was found "
    "(looked in {where}): {consequence}.\n{how}",
    cannot_build="warning: cannot build the real-document corpus (data/real/): {error}; nothing was changed, "
    "and {consequence}.\n{how}",
    mismatch="error: the corpus built from the mirrors does not match manifest.csv",
    how="To build it, put clones or bare mirrors of the repositories in SOURCES of data/real/build_corpus.py "
    "(they must hold the pinned commits) in a folder, as owner+name/repo, owner+name or owner/name, and run\n"
    f"    EXTRACTOR_MIRRORS=DIR {ENSURE_COMMAND}\n(see data/real/README.md).",
    consequence=(
        "the tests that need its documents will be skipped",
        "tests/test_real_manifest.py will fail until it is rebuilt",
    ),
)


def ensure(root: Path = ROOT, mirrors: Sequence[Path] | None = None) -> int:
    """Build the corpus unless it is already whole; 0 unless a build went wrong (see main)."""
    return pinned.ensure(
        root,
        mirrors,
        generated=GENERATED,
        verify=verify,
        build=build,
        describe=lambda: describe(root),
        texts=ENSURE_TEXTS,
    )


# --------------------------------------------------------------------------------------------- verify


def check_metadata(root: Path = ROOT) -> list[str]:
    """Problems in the committed metadata alone (manifest.csv, sources.csv, expected/), no documents needed.

    Each manifest row: listed once, under a kind folder and a known source whose repository, commit
    and licence it repeats, a safe ASCII path, a 40-digit commit, a 64-digit SHA-256 and a size within
    the limits; the manifest and sources.csv list the same files with the same source paths and
    notes; expected outputs name listed files; the listed sizes add up to under 30 MiB.
    """
    problems: list[str] = []
    rows = read_manifest(root)
    listed: set[str] = set()
    for row in rows:
        path = row["path"]
        if path in listed:
            problems.append(f"{path}: listed twice")
        listed.add(path)
        kind, source_name = (path.split("/") + ["", ""])[:2]
        if kind not in KINDS or row["kind"] != kind:
            problems.append(f"{path}: kind {row['kind']!r} does not match its folder")
        source = SOURCES.get(source_name)
        if source is None:
            problems.append(f"{path}: unknown source folder {source_name!r}")
        elif (row["repo"], row["commit"], row["licence"]) != (source.repo, source.commit, source.licence):
            problems.append(f"{path}: repo/commit/licence differ from SOURCES[{source_name!r}]")
        if len(row["commit"]) != 40 or any(c not in "0123456789abcdef" for c in row["commit"]):
            problems.append(f"{path}: commit is not 40 hex digits")
        if len(row["sha256"]) != 64 or any(c not in "0123456789abcdef" for c in row["sha256"]):
            problems.append(f"{path}: sha256 is not 64 lowercase hex digits")
        if not row["bytes"].isdigit():
            problems.append(f"{path}: bytes {row['bytes']!r} is not a size")
        elif int(row["bytes"]) > MAX_FILE_BYTES:
            problems.append(f"{path}: {row['bytes']} bytes is over the 3 MiB limit")
        if not path.isascii() or " " in path:
            problems.append(f"{path}: not a safe ASCII name")
    by_path = {row["path"]: row for row in rows}
    picks = read_picks(root)
    picked = {p.path for p in picks}
    if picked != listed:
        problems.append(f"manifest and sources.csv differ: {sorted(picked ^ listed)[:5]}")
    for pick in picks:
        row = by_path.get(pick.path)
        if row is None:
            continue
        if pick.source != pick.path.split("/")[1] or (row["source_path"], row["notes"]) != (
            pick.source_path,
            pick.notes,
        ):
            problems.append(f"{pick.path}: source, source_path or notes differ between manifest and sources.csv")
    expected_file = root / "expected" / "email.jsonl"
    if expected_file.is_file():
        for number, line in enumerate(expected_file.read_text(encoding="utf-8").splitlines(), 1):
            record = json.loads(line)
            if record.get("path") not in listed:
                problems.append(f"expected/email.jsonl line {number}: {record.get('path')!r} is not a corpus file")
    total = sum(int(row["bytes"]) for row in rows if row["bytes"].isdigit())
    if total > MAX_TOTAL_BYTES:
        problems.append(f"the manifest lists {total} bytes, over {MAX_TOTAL_BYTES}")
    return problems


def check_files(root: Path = ROOT) -> list[str]:
    """Problems with the built documents: each listed file present with its size and SHA-256, each
    source's licence copy present, no unlisted file in the kind folders, under 30 MiB on disk."""
    problems: list[str] = []
    rows = read_manifest(root)
    for source in SOURCES.values():
        if not (root / "LICENSES" / source.licence_copy).is_file():
            problems.append(f"LICENSES/{source.licence_copy}: missing")
    for row in rows:
        path, file = row["path"], root / row["path"]
        if not file.is_file():
            problems.append(f"{path}: missing")
            continue
        size = file.stat().st_size
        if str(size) != row["bytes"]:
            problems.append(f"{path}: {size} bytes, manifest says {row['bytes']}")
        if pinned.sha256_of(file) != row["sha256"]:
            problems.append(f"{path}: SHA-256 differs from the manifest")
    listed = {row["path"] for row in rows}
    problems += pinned.unlisted_files(root, KINDS, listed)
    total = sum(
        file.stat().st_size
        for name in GENERATED
        for file in (root / name).rglob("*")
        if file.is_file() and "__pycache__" not in file.parts
    )
    if total > MAX_TOTAL_BYTES:
        problems.append(f"the documents and licences hold {total} bytes, over {MAX_TOTAL_BYTES}")
    return problems


def verify(root: Path = ROOT) -> list[str]:
    """Every problem found in the corpus under `root`; an empty list means it is whole."""
    return check_metadata(root) + check_files(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--ensure",
        action="store_true",
        help="do nothing if the corpus is whole; else build it from local mirrors and verify it "
        "(exit 0 with a warning when there are none)",
    )
    mode.add_argument("--verify", action="store_true", help="only check manifest.csv against the files")
    mode.add_argument(
        "--mirrors", type=Path, help="build from the repository copies in this folder, rewriting manifest.csv"
    )
    args = parser.parse_args(argv)
    if args.ensure:
        return ensure()
    if args.mirrors is not None:
        return pinned.rebuild(ROOT, lambda: build([args.mirrors], rewrite_manifest=True), describe)
    return pinned.report(verify(), describe)


if __name__ == "__main__":
    sys.exit(main())
