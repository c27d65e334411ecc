"""The corpus of real public documents under data/real/: its committed metadata, and the documents.

The metadata tests need only the committed files (manifest.csv, sources.csv, build_corpus.py,
expected/) and always run: the two lists agree, every source is pinned to a commit under a licence
that allows redistribution, SHA-256s are well formed, no repository on the forbidden list is used,
the documents can never be committed. The document tests run the same checks as
`python data/real/build_corpus.py --verify` (every listed file present with its SHA-256, every
corpus file listed, licence copies present) and skip when the corpus has not been built.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.real_corpus import KINDS, REAL, SKIP_REASON, build_corpus, corpus_rows, expected_emails, manifest

REDISTRIBUTABLE = {"MIT", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0", "PSF-2.0", "Artistic-1.0-Perl"}
# Repositories whose files must not be used, whatever their licence says.
FORBIDDEN_REPOS = {
    *("invoice-x/invoice2data", "applicaai/kleister-nda", "zzzDavid/ICDAR-2019-SROIE"),
    *("google-research-datasets/vrdu", "jstray/deepform", "KDE/kitinerary", "stalwartlabs/mail-parser"),
    *("HiraokaHyperTools/msgreader", "pdfminer/pdfminer.six", "mozilla/pdf.js", "py-pdf/sample-files"),
    "SpamScope/mail-parser",
}
EXPECTED_KEYS = {
    *("path", "source"),  # which corpus file, and where the expectation was read
    *("subject", "from", "to", "cc", "date", "message_id", "attachments", "attachment_count"),
}
HEX40, HEX64 = re.compile(r"[0-9a-f]{40}"), re.compile(r"[0-9a-f]{64}")


@pytest.fixture(scope="module")
def corpus():
    return build_corpus()


# ------------------------------------------------------------------ metadata (committed files only)


def test_the_metadata_passes_the_build_scripts_checks(corpus):
    assert corpus.check_metadata() == []


def test_sources_csv_and_the_manifest_list_the_same_files(corpus):
    picks = {pick.path: pick for pick in corpus.read_picks()}
    rows = {row["path"]: row for row in manifest()}
    assert len(picks) == len(corpus.read_picks()) and len(rows) == len(manifest())  # no path twice
    assert picks.keys() == rows.keys()
    for path, row in rows.items():
        pick, source = picks[path], corpus.SOURCES[picks[path].source]
        assert path.split("/")[:2] == [row["kind"], pick.source], path
        assert (row["source_path"], row["notes"]) == (pick.source_path, pick.notes), path
        assert (row["repo"], row["commit"], row["licence"]) == (source.repo, source.commit, source.licence), path


def test_every_source_is_pinned_under_a_redistributable_licence(corpus):
    for name, source in corpus.SOURCES.items():
        assert HEX40.fullmatch(source.commit), name
        assert source.licence in REDISTRIBUTABLE, name
        assert source.licence_path and source.licence_copy.endswith(".txt"), name
    copies = [source.licence_copy for source in corpus.SOURCES.values()]
    assert len(copies) == len(set(copies))
    assert {row["licence"] for row in manifest()} <= REDISTRIBUTABLE
    assert {row["path"].split("/")[1] for row in manifest()} == set(corpus.SOURCES)  # no unused source


def test_commits_hashes_and_sizes_are_well_formed(corpus):
    for row in manifest():
        assert HEX40.fullmatch(row["commit"]) and HEX64.fullmatch(row["sha256"]), row["path"]
        assert row["bytes"].isdigit() and int(row["bytes"]) <= corpus.MAX_FILE_BYTES, row["path"]
        assert row["path"].isascii() and " " not in row["path"], row["path"]
    assert sum(int(row["bytes"]) for row in manifest()) <= corpus.MAX_TOTAL_BYTES


def test_no_forbidden_repository_is_used(corpus):
    forbidden = {repo.lower() for repo in FORBIDDEN_REPOS}
    used = {source.repo for source in corpus.SOURCES.values()} | {row["repo"] for row in manifest()}
    assert not {repo for repo in used if repo.lower() in forbidden}
    text = (REAL / "sources.csv").read_text(encoding="utf-8").lower()
    assert not [repo for repo in forbidden if repo in text]


def test_each_kind_has_files_from_several_sources():
    for kind in KINDS:
        assert len({row["repo"] for row in corpus_rows(kind)}) >= 3, kind


def test_expected_email_outputs_name_corpus_files():
    listed = {row["path"] for row in manifest()}
    records = expected_emails()
    assert len(records) >= 36
    for record in records:
        assert record["path"] in listed
        assert set(record) <= EXPECTED_KEYS, record["path"]
        assert set(record) - {"path", "source"}, record["path"]
        for key in ("from", "to", "cc"):
            assert all("@" in address for address in record.get(key, [])), (record["path"], key)


def test_the_documents_can_never_be_committed(corpus):
    """Git ignores what a build writes, and none of the metadata."""
    if shutil.which("git") is None or not (REAL.parent.parent / ".git").exists():
        pytest.skip("not a Git work tree")
    root = REAL.parent.parent
    generated = [f"data/real/{name}/x" for name in corpus.GENERATED] + ["data/real/.build-x/y"]
    ours = ["README.md", "build_corpus.py", "sources.csv", "manifest.csv", "expected/email.jsonl"]

    def ignored(paths):
        result = subprocess.run(
            ["git", "check-ignore", "--no-index", "--stdin"],
            input="\n".join(paths).encode(),
            cwd=root,
            capture_output=True,
        )
        return set(result.stdout.decode().split())

    assert ignored(generated) == set(generated)
    assert ignored([f"data/real/{name}" for name in ours]) == set()


# ------------------------------------------------------------------ the documents (built locally)

# Skip only when nothing has been built: a corpus that is there in part is damaged, and should fail.
built = pytest.mark.skipif(not any((REAL / name).exists() for name in (*KINDS, "LICENSES")), reason=SKIP_REASON)


@built
def test_every_file_matches_the_manifest(corpus):
    assert corpus.check_files() == []


@built
def test_licences_are_copied(corpus):
    for source in corpus.SOURCES.values():
        assert (REAL / "LICENSES" / source.licence_copy).stat().st_size > 0
        if source.notice_path:
            assert (REAL / "LICENSES" / (source.licence_copy.removesuffix(".txt") + ".NOTICE.txt")).is_file()
