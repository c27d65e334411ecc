"""Ray overhead: the same incremental run, locally and on a local Ray instance (`--runner ray`).
Writes bench/results/ray/overhead.{json,md}.

    .venv/bin/python bench/ray_overhead.py [--docs 100] [--model-docs 16]

1. `--docs` generated one-page invoices (fixed seed) through `run_incremental` with a stand-in
   engine that answers at once: what is left is parsing and the pipeline's own plumbing, so the
   difference is Ray's overhead (start-up, actors, object store hops). Rows compared for equality.
2. `--model-docs` of them with the embedded model (JSON decoding): the same comparison when the
   model's time dominates, as it does in real runs.
Each variant runs in its own process (a fresh Ray each time); wall time and peak RSS of the driver
come from wait4() (Ray's worker processes are not in the driver's RSS).
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
RESULTS = ROOT / "bench" / "results" / "ray"
CORPUS = ROOT / "out" / "bench-ray"

CHILD = """
import json, sys, time
t0 = time.perf_counter()
from extractor.config import RunConfig
from extractor.pipeline import run_incremental
from extractor.schema import load_schema
inputs, out, where, engine_kind, limit = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
labels = [json.loads(line) for line in open(inputs + "/labels.jsonl")]
files = [inputs + "/" + item["file"] for item in labels][:limit]
schema = load_schema("invoice")
if engine_kind == "fake":
    from extractor.engines.fake import FakeEngine
    answer = '{"invoice_number": "X", "total": "1.00", "currency": "EUR"}'
    engine = FakeEngine(respond=lambda p: answer)
else:
    from extractor.engines.base import lazy_engine
    engine = lazy_engine("transformers", "embedded")
runner = None
started = time.perf_counter()
if where == "ray":
    import ray
    from extractor.pipeline_ray import RayRunner
    ray.init(include_dashboard=False, log_to_driver=False)
    runner = RayRunner()
ray_init_s = time.perf_counter() - started
result = run_incremental(files, out, schema, engine, RunConfig(decoding="json"), runner=runner)
run_s = time.perf_counter() - started
print(json.dumps({"ok": result.ok, "failed": result.failed, "ray_init_s": round(ray_init_s, 2),
                  "run_s": round(run_s, 2), "imports_s": round(started - t0, 2)}))
"""


def measured(argv: list[str]) -> dict[str, float]:
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{argv} failed:\n{err.read().decode()[-3000:]}")
        result = json.loads(out.read().decode().strip().splitlines()[-1])
    result.update(wall_s=round(wall, 2), driver_peak_rss_mib=round(usage.ru_maxrss / 1024, 1))
    return result


def same_rows(a: Path, b: Path) -> bool:
    from extractor.api import read

    frames = [read(p, "invoice").drop(columns=["extracted_at"]).sort_values("source_path") for p in (a, b)]
    return bool(frames[0].reset_index(drop=True).equals(frames[1].reset_index(drop=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--model-docs", type=int, default=16)
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from extractor import synth

    corpus = CORPUS / f"invoice-{options.docs}"
    if not (corpus / synth.LABELS_FILE).is_file():
        synth.generate("invoice", options.docs, seed=11, out=corpus)
    results: dict[str, object] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "docs": options.docs,
        "model_docs": options.model_docs,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for engine_kind, n in (("fake", options.docs), ("embedded", options.model_docs)):
            outs = {}
            for where in ("local", "ray"):
                outs[where] = Path(tmp) / f"{engine_kind}-{where}"
                argv = [sys.executable, "-c", CHILD, str(corpus), str(outs[where]), where, engine_kind, str(n)]
                results[f"{engine_kind}_{where}"] = measured(argv)
                print(engine_kind, where, results[f"{engine_kind}_{where}"], flush=True)
            results[f"{engine_kind}_same_rows"] = same_rows(outs["local"], outs["ray"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "overhead.json").write_text(json.dumps(results, indent=1) + "\n")
    (RESULTS / "overhead.md").write_text(report(results))
    print((RESULTS / "overhead.md").read_text())


def report(r: dict) -> str:  # type: ignore[type-arg]
    lines = [
        "# Local vs Ray Data (one machine)",
        "",
        f"Machine: {r['machine']}. Reproduce: `.venv/bin/python bench/ray_overhead.py`.",
        "",
        "| engine | docs | where | run (s) | of which Ray start (s) | docs/min | same rows as local |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for engine_kind, n in (("fake", r["docs"]), ("embedded", r["model_docs"])):
        for where in ("local", "ray"):
            v = r[f"{engine_kind}_{where}"]
            same = "" if where == "local" else ("yes" if r[f"{engine_kind}_same_rows"] else "**no**")
            lines.append(
                f"| {'stand-in (instant)' if engine_kind == 'fake' else 'embedded SmolLM2-135M, JSON'} | {n} | "
                f"{where} | {v['run_s']} | {v['ray_init_s'] if where == 'ray' else ''} | "
                f"{round(60 * n / v['run_s'], 1)} | {same} |"
            )
    lines += [
        "",
        "run = from before `ray.init` (Ray variants) to the last commit; imports excluded.",
        "The stand-in engine answers at once, so its rows measure parsing plus each path's plumbing.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
