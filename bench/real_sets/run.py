"""Field accuracy and speed of `extractor run` on the real labelled sets, per model.

    python bench/real_sets/run.py --label LABEL [--sets receipts invoices] [--models embedded qwen2.5-coder-1.5b]
                                  [--extractor "python -m extractor.cli"] [-- extra run options]

For every (set, model): `extractor run data/real_sets/SET/docs --schema bench/real_sets/schemas.py:CLASS
--model MODEL --full` into a fresh output folder, timed end to end (parse, OCR, model load, decoding),
then scored against the set's labels (score.py). Results are merged into
bench/results/real_sets/runs.json under (label, set, model), and bench/results/real_sets/README.md is
written anew from everything in it. `--extractor` runs another checkout's code (e.g. the commit
before a change: `PYTHONPATH=/tmp/before python -m extractor.cli`), so a before/after table comes
from one script. Run it alone: two CPU-heavy jobs on 2 cores slow each other several-fold.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.real_sets.score import guess_schema, read_rows, score  # noqa: E402

SETS = {
    "receipts": "Receipt",
    "receipts_pool": "Receipt",
    "invoices": "Invoice",
    "charity_text": "CharityReport",
    "charity": "CharityReport",
}
RESULTS = ROOT / "bench" / "results" / "real_sets"


def subset(set_name: str, limit: int | None, work: Path, *, shortest: bool = False) -> Path:
    """The set's folder, or a folder holding its first `limit` documents (by name, or the `shortest`
    by file size) and their labels."""
    full = ROOT / "data" / "real_sets" / set_name
    if not (full / "docs").is_dir():
        raise SystemExit(f"{full / 'docs'} is missing: python bench/real_sets/build_sets.py --ensure")
    if limit is None:
        return full
    folder = work / "subsets" / f"{set_name}-{'shortest' if shortest else 'first'}{limit}"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "docs").mkdir(parents=True)
    files = sorted(p for p in (full / "docs").iterdir() if p.is_file())
    if shortest:
        files = sorted(files, key=lambda p: (p.stat().st_size, p.name))
    names = sorted(p.name for p in files[:limit])
    for name in names:
        (folder / "docs" / name).symlink_to(full / "docs" / name)
    labels = [line for line in (full / "labels.jsonl").read_text().splitlines() if line.strip()]
    kept = [line for line in labels if Path(json.loads(line)["file"]).name in names]
    (folder / "labels.jsonl").write_text("\n".join(kept) + "\n")
    return folder


def run_one(extractor: list[str], set_dir: Path, set_name: str, model: str, out: Path, extra: list[str]) -> dict:
    docs = set_dir / "docs"
    shutil.rmtree(out, ignore_errors=True)
    schema = f"{ROOT / 'bench' / 'real_sets' / 'schemas.py'}:{SETS[set_name]}"
    command = [*extractor, "run", str(docs), "--schema", schema, "--out", str(out), "--full", *extra]
    if model != "default":
        command += ["--model", model]
    started = time.perf_counter()
    # Not from the repository root: `python -m` puts the working directory first on sys.path, so
    # `--extractor` with PYTHONPATH=<another checkout> would import this checkout instead.
    out.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=out.parent)
    probe = [extractor[0], "-c", "import extractor; print(extractor.__file__)"]
    code = subprocess.run(probe, capture_output=True, text=True, check=False, cwd=out.parent).stdout.strip()
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{shlex.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    table_name = guess_schema(ROOT / "data" / "real_sets" / set_name, out)
    rows = read_rows(out, table_name)
    errors = read_rows(out, table_name, errors=True)
    table = score(set_dir, rows)
    documents = sum(1 for p in docs.iterdir())
    model_ids = sorted({str(m) for m in rows.get("model_id", [])})
    return {
        "command": shlex.join(command),
        "code": str(Path(code).parent.parent),  # the checkout whose extractor/ ran
        "summary": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "",
        "documents": documents,
        "rows": len(rows),
        "error_rows": len(errors),
        "wall_s": round(wall, 1),
        "docs_per_min": round(documents * 60 / wall, 2),
        "model_ids": model_ids,
        "counts": dict(table.attrs),
        "fields": json.loads(table.to_json(orient="records")),
    }


def commit() -> str:
    """The last commit that changed the code a run executes (extractor/, the schemas, the adapters)."""
    command = ["git", "log", "-1", "--format=%h", "--", "extractor", "schemas", "models", "pyproject.toml"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    return done.stdout.strip()


def _model_name(model: str) -> str:
    """A model as the table shows it: a registry name, or a GGUF file's name (the same weights)."""
    return Path(model).name if "/" in model else model


def render(runs: dict) -> str:
    lines = [
        "# Real labelled sets: field accuracy and speed",
        "",
        "Written by `bench/real_sets/run.py` from `runs.json`; the sets are described in",
        "`bench/real_sets/README.md` (sources, pinned commits, licences, label caveats). Accuracy is per",
        "labelled value: strict (normalised equality) / lenient (score.py: OCR slips and word order forgiven",
        "for names and addresses; numbers within 0.01 and dates exact in both). `null` counts labelled",
        "values predicted null (a document without a row counts null on every field). docs/min is end to",
        "end on this machine's 2 CPU cores: parse, OCR, model load and decoding, one run at a time.",
        "",
    ]
    by_set: dict[str, list[tuple[str, dict]]] = {}
    for key, run in runs.items():
        by_set.setdefault(run["set"], []).append((key, run))
    for set_name, group in sorted(by_set.items()):
        lines += [f"## {set_name}", ""]
        fields = [f["field"] for f in group[0][1]["fields"]]
        header = ["run", "model", "docs/min", "errors", *fields]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for _key, run in sorted(group, key=lambda kv: (_model_name(kv[1]["model"]), kv[1]["label"])):
            cells = {f["field"]: f for f in run["fields"]}
            row = [
                f"{run['label']} ({run['date']}, {run['commit']})",
                _model_name(run["model"]),
                f"{run['docs_per_min']:.1f}",
                f"{run['error_rows']}/{run['documents']}",
            ]
            for name in fields:
                f = cells.get(name)
                row.append(
                    "–" if f is None else f"{f['strict_acc']:.2f} / {f['lenient_acc']:.2f} ({f['pred_null']} null)"
                )
            lines.append("| " + " | ".join(row) + " |")
        lines += ["", "Commands (`WORK` is `--work`, default /tmp/extractor-real-sets):", ""]
        for _k, run in sorted(group):
            command = run["command"].replace(f"{ROOT}/", "").replace("/tmp/extractor-real-sets", "WORK")
            command = command.replace(sys.executable, "python").replace(".venv/bin/python", "python")
            lines.append(f"- {run['label']}, {run['model']}: `{command}`")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", help="what this run measures, e.g. 'numbers bare' (required to run)")
    parser.add_argument("--sets", nargs="+", default=["receipts", "invoices"], choices=sorted(SETS))
    parser.add_argument("--models", nargs="+", default=["embedded"], help="--model values ('default': none given)")
    parser.add_argument("--extractor", default=f"{sys.executable} -m extractor.cli", help="the command to run")
    parser.add_argument("--work", type=Path, default=Path("/tmp/extractor-real-sets"), help="output folders")
    parser.add_argument("--commit", default="", help="the commit of the code --extractor runs (default: HEAD)")
    parser.add_argument("--limit", type=int, help="only the first N documents of each set (by file name)")
    parser.add_argument("--render", action="store_true", help="only write README.md anew from runs.json")
    parser.add_argument("extra", nargs="*", help="options passed to `extractor run` (after --)")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    store = RESULTS / "runs.json"
    runs = json.loads(store.read_text()) if store.is_file() else {}
    if args.render:
        (RESULTS / "README.md").write_text(render(runs))
        return 0
    if not args.label:
        parser.error("--label is required to run")
    for set_name in args.sets:
        set_dir = subset(set_name, args.limit, args.work)
        shown = set_name if args.limit is None else f"{set_name}, first {args.limit}"
        for model in args.models:
            out = args.work / args.label.replace(" ", "_") / set_dir.name / Path(model).name
            print(f"{args.label}: {shown} with {model} ...", flush=True)
            result = run_one(shlex.split(args.extractor), set_dir, set_name, model, out, args.extra)
            micro = result["fields"][-1]
            print(
                f"  {result['docs_per_min']:.1f} docs/min, micro {micro['strict_acc']:.3f} strict / "
                f"{micro['lenient_acc']:.3f} lenient, {result['error_rows']} error rows",
                flush=True,
            )
            key = f"{args.label} | {shown} | {model}"
            runs[key] = {
                "label": args.label,
                "set": shown,
                "model": model,
                "date": dt.date.today().isoformat(),
                "commit": args.commit or commit(),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                **result,
            }
            store.write_text(json.dumps(runs, indent=1, sort_keys=True) + "\n")
            (RESULTS / "README.md").write_text(render(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
