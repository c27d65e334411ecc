"""How much of the real-document corpus the parse stage reads, per kind and per source.

    PYTHONPATH=. .venv/bin/python bench/real_corpus_parse.py [--no-ocr]
        -> bench/results/real_corpus/parse.md, parse.json

Every file of data/real/manifest.csv (build it first: `python data/real/build_corpus.py --ensure`)
goes through `parse_file` in a parse worker, as `extractor run` reads it (timeouts and memory caps
included). A file is *parsed* when it becomes a Document; otherwise the table counts its typed error.
Envelope agreement: the share of the values the sources' own tests state (subject, addresses, date,
message id, attachments; data/real/expected/email.jsonl) that the parsed metadata reproduces.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "real_corpus"


def main() -> None:
    from extractor.config import ParseLimits
    from extractor.parse.pool import ParsePool
    from tests.real_corpus import REAL, expected_emails, manifest
    from tests.test_real_corpus import _compare

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-ocr", action="store_true")
    args = parser.parse_args()
    rows = manifest()
    paths = [REAL / row["path"] for row in rows]
    started = time.perf_counter()
    outcome: dict[str, str] = {}
    metadata: dict[str, dict] = {}  # type: ignore[type-arg]
    with ParsePool(ParseLimits(ocr=not args.no_ocr), workers=2) as pool:
        for parsed in pool.map(paths):
            key = str(Path(parsed.path).relative_to(REAL))
            outcome[key] = "parsed" if parsed.error is None else type(parsed.error).__name__
            if parsed.document is not None:
                metadata[key] = dict(parsed.document.metadata)
    elapsed = time.perf_counter() - started
    table: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for row in rows:
        source = row["path"].split("/")[1]
        table[(row["kind"], source)][outcome[row["path"]]] += 1
        table[(row["kind"], "all")][outcome[row["path"]]] += 1
    agree = total = 0
    misses = []
    for want in expected_emails():
        for key, ok in _compare(metadata.get(want["path"], {}), want).items():
            total, agree = total + 1, agree + ok
            if not ok:
                misses.append(f"{want['path']}: {key}")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    lines = [
        "# Real-document corpus: what the parse stage reads",
        "",
        f"{time.strftime('%Y-%m-%d')}, commit {commit.stdout.strip()}, `python bench/real_corpus_parse.py"
        f"{' --no-ocr' if args.no_ocr else ''}` ({len(rows)} files, {elapsed:.0f} s, 2 parse workers).",
        "",
        "| kind | source | files | parsed | % | errors |",
        "|---|---|---:|---:|---:|---|",
    ]
    for (kind, source), counts in sorted(table.items(), key=lambda kv: (kv[0][0], kv[0][1] != "all", kv[0][1])):
        n = sum(counts.values())
        errors = ", ".join(f"{name} {c}" for name, c in counts.most_common() if name != "parsed")
        label = f"**{source}**" if source == "all" else source
        lines.append(f"| {kind} | {label} | {n} | {counts['parsed']} | {100 * counts['parsed'] / n:.0f} | {errors} |")
    share = f"{agree}/{total} values ({100 * agree / total:.1f}%)"
    lines += ["", f"Envelope agreement with the sources' expectations: {share}."]
    if misses:
        lines += ["", "Disagreements:", "", *[f"- {m}" for m in misses]]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "parse.md").write_text("\n".join(lines) + "\n")
    (OUT / "parse.json").write_text(json.dumps({"outcome": outcome, "envelope": [agree, total]}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
