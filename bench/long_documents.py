"""Long documents: what reading in parts recovers that truncation loses, and what grounding costs.

    .venv/bin/python bench/long_documents.py [--n 6]   -> bench/results/long_documents/

Generates N project reports of 24 to 32 pages (fixed seeds) with the facts on the title page, the
middle and the last but one (extractor/synth/long_report.py), runs `extractor run` on them twice
with the model the CLI picks for `project_report` (grounded decoding): `--long-documents chunk` (the
default) and `--long-documents truncate`, scores both with `extractor eval` (truncation as the
baseline), and times the evidence search of every row again on its own (exact / normalised /
fuzzy search of all values of a record in its whole document).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "long_documents"
WORK = ROOT / "out" / "bench-long"
BIN = Path(sys.executable).parent


def corpus(n: int) -> Path:
    from extractor.synth.long_report import long_report

    folder = WORK / "docs"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "test").mkdir(parents=True)
    with (folder / "labels.jsonl").open("w") as labels:
        for i in range(n):
            rng = random.Random(f"long:{i}")
            pages = rng.randint(24, 32)
            pdf, fields = long_report(rng, pages)
            name = f"test/report-{i:02d}.pdf"
            (folder / name).write_bytes(pdf)
            record = {"file": name, "schema": "project_report", "split": "test", "family": "long", "fields": fields}
            labels.write(json.dumps(record) + "\n")
    return folder


def extract(docs: Path, mode: str) -> dict[str, float]:
    out = WORK / mode
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(
        [str(BIN / "extractor"), "run", str(docs), "--schema", "project_report", "--out", str(out), "-q",
         "--long-documents", mode],
        check=False,
    )  # fmt: skip
    return {"seconds": round(time.perf_counter() - started, 1)}


def grounding_times(docs: Path) -> dict[str, float]:
    """Evidence search of every chunked row again, timed per document."""
    from extractor.api import read
    from extractor.extract.evidence import TextIndex, locate
    from extractor.parse import parse_file
    from extractor.schema import load_schema

    schema = load_schema("project_report")
    frame = read(WORK / "chunk", "project_report")
    times, characters = [], []
    for row in frame.to_dict("records"):
        doc = parse_file(row["source_path"])
        data = {f.name: row[f.name] for f in schema.fields}
        data = {k: (list(v) if hasattr(v, "tolist") else v) for k, v in data.items()}
        started = time.perf_counter()
        locate(data, schema.fields, doc, TextIndex(doc.text), {}, {})
        times.append(time.perf_counter() - started)
        characters.append(len(doc.text))
    return {
        "documents": len(times),
        "mean_characters": round(sum(characters) / max(len(characters), 1)),
        "mean_ms": round(1000 * sum(times) / max(len(times), 1), 1),
        "max_ms": round(1000 * max(times, default=0.0), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=6)
    args = parser.parse_args()
    docs = corpus(args.n)
    results = {"documents": args.n, "runs": {}}
    for mode in ("chunk", "truncate"):
        results["runs"][mode] = extract(docs, mode)
    RESULTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(BIN / "extractor"), "eval", str(WORK / "chunk"), "--labels", str(docs / "labels.jsonl"),
         "--baseline", str(WORK / "truncate"), "--out", str(RESULTS / "eval")],
        check=True,
    )  # fmt: skip
    results["grounding"] = grounding_times(docs)
    scores = json.loads((RESULTS / "eval" / "scores.json").read_text())
    results["scores"] = scores
    (RESULTS / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "scores"}, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
