"""Nightly rerun cost: 1,000 documents, nothing changed. Writes bench/results/nightly/rerun.{json,md}.

    .venv/bin/python bench/nightly_rerun.py [--n 1000]

1. Generates N one-page invoice PDFs (different content each).
2. First pass: `run_incremental` with a stand-in engine that carries the real default model's id
   and fingerprint (a real first pass of 1,000 documents would take hours on a 2-core CPU; only
   its ledger matters here). It still parses every PDF in the parse worker.
3. Measured: the real CLI, `extractor run IN --schema invoice --out OUT -q --decoding json`, on the unchanged
   folder (new process: imports, model resolution, lock, recovery, stat of every file, plan),
   then the same after `touch`ing every file (content re-hashed, nothing extracted).
Each step runs in its own process; wall time and peak RSS come from wait4().
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "nightly"
BIN = Path(sys.executable).parent

FIRST_PASS = """
import sys
from pathlib import Path
from extractor.config import RunConfig
from extractor.engines.fake import FakeEngine
from extractor.engines.model_store import model_for
from extractor.engines.base import lazy_engine
from extractor.pipeline import run_incremental
from extractor.schema import load_schema
schema = load_schema("invoice")
real = lazy_engine("auto", model_for(None, schema.name, schema.fingerprint))  # what `extractor run` uses
answer = '{"invoice_number": "X", "total": "1.00", "currency": "EUR"}'
fake = FakeEngine(respond=lambda p: answer, model_id=real.model_id, fingerprint=real.fingerprint)
fake.schema_fingerprint = real.schema_fingerprint
result = run_incremental([sys.argv[1]], sys.argv[2], schema, fake, RunConfig(decoding="json"), commit_every=256)
print(result.ok, result.failed)
"""


def measured(argv: list[str]) -> dict[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    _out, err = proc.communicate()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{argv} exited {code}:\n{err.decode()[-3000:]}")
    return {"seconds": round(wall, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "exit_code": code}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from extractor.samples import InvoiceSpec, invoice_pdf

    work = Path(tempfile.mkdtemp(prefix="nightly-bench-"))
    folder, out = work / "in", work / "out"
    folder.mkdir()
    t0 = time.perf_counter()
    for i in range(args.n):
        spec = InvoiceSpec(
            invoice_number=f"INV-{i:05d}",
            issuer="Bench Supplies Ltd",
            issuer_address="1 Lane",
            recipient=f"Customer {i}",
            recipient_address="2 Road",
            invoice_date="2024-05-02",
            due_date="2024-06-01",
            currency="EUR",
            lines=[("Widget", "1", f"{i}.00", f"{i}.00")],
            subtotal=f"{i}.00",
            tax="0.00",
            total=f"{i}.00",
        )
        (folder / f"inv{i:05d}.pdf").write_bytes(invoice_pdf(spec))
    generate_s = time.perf_counter() - t0
    first = measured([sys.executable, "-c", FIRST_PASS, str(folder), str(out)])
    # --decoding json: the same (model, decoding) pair as the first pass, so nothing is new.
    cli = [
        str(BIN / "extractor"),
        "run",
        str(folder),
        "--schema",
        "invoice",
        "--out",
        str(out),
        "-q",
        "--decoding",
        "json",
    ]
    unchanged = measured(cli)
    for path in folder.iterdir():
        os.utime(path)
    touched = measured(cli)
    again = measured(cli)
    results = {
        "documents": args.n,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "generate_pdfs_s": round(generate_s, 1),
        "first_pass_parse_and_commit": first,
        "rerun_nothing_changed": unchanged,
        "rerun_all_touched_same_content": touched,
        "rerun_again": again,
        "command": f"bench/nightly_rerun.py --n {args.n}",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "rerun.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        f"# Nightly rerun, {args.n} one-page invoice PDFs, nothing new",
        "",
        f"Machine: {results['machine']}. Command: `.venv/bin/python {results['command']}`.",
        "",
        "| step | wall s | peak RSS MiB |",
        "|---|---:|---:|",
    ]
    for key in (
        "first_pass_parse_and_commit",
        "rerun_nothing_changed",
        "rerun_all_touched_same_content",
        "rerun_again",
    ):
        lines.append(f"| {key.replace('_', ' ')} | {results[key]['seconds']} | {results[key]['peak_rss_mib']} |")
    lines += [
        "",
        "The first pass used a stand-in engine carrying the real default model's fingerprint (a real",
        "first pass takes hours here); every rerun is the real `extractor run` CLI in a fresh process.",
    ]
    (RESULTS / "rerun.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
