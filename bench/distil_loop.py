"""The label -> review -> distil loop, measured on a real labelled set.

    python bench/distil_loop.py --set invoices --test 15 --pool 20 --teacher qwen2.5-coder-1.5b \
        --corrections 0 25 100 [--epochs 3] [--student embedded | gemma3-270m] [--seed 0]

1. The set's documents sorted by name: the first `--test` are held out (the same documents as the
   zero-shot tables of bench/results/real_sets), the next `--pool` are the user's folder to label
   (with `--pool-set S`: the first `--pool` of set S, e.g. `receipts_pool`, 100 receipts that are
   not in `receipts`).
2. `extractor label POOL --model TEACHER --n POOL`: the teacher labels the pool (timed).
3. For each N in `--corrections`: a copy of the labels in which **a simulated person** corrects the
   N most doubtful values, in the order the review page shows them (values not found in the text,
   then the lowest confidence): the value is replaced by the set's gold value where the document
   prints it (a person selects it in the page); where the gold value is printed nowhere, the
   teacher's value stays if the scorer counts it right, else the field is cleared (both listed).
   Documents whose every value was looked at are marked reviewed. Nothing else is touched.
4. `extractor finetune --train LABELS --unreviewed-above 0 [--model STUDENT]`: a LoRA student on
   the embedded 135M model (or on `--student`, e.g. `gemma3-270m`, pulled first) from those labels
   (timed), then `extractor run` of the student on the held-out documents (timed, llama.cpp),
   scored per field by bench/real_sets/score.py. The teacher's own zero-shot
   run on the held-out documents is measured in the same way.

Results go to bench/results/distil/runs.json, README.md and loop.png (bench/distil_plot.py). Run it
alone: two CPU-heavy jobs on 2 cores slow each other several-fold.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.distil_plot import plot  # noqa: E402
from bench.real_sets.run import SETS, commit, run_one  # noqa: E402
from bench.real_sets.score import compare, field_kind  # noqa: E402
from bench.real_sets.score import read_labels as gold_labels  # noqa: E402
from extractor.finetune.targets import unprinted  # noqa: E402
from extractor.labels.editor import review_queue, top_field  # noqa: E402
from extractor.labels.store import read_labels, validate_fields, write_labels  # noqa: E402
from extractor.parse import parse_file  # noqa: E402
from extractor.schema import load_schema  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "distil"
RUNS = RESULTS / "runs.json"
EXTRACTOR = [sys.executable, "-m", "extractor.cli"]


def split(set_name: str, test: int, pool: int, work: Path, pool_set: str) -> tuple[Path, Path]:
    """(held-out folder with docs/ and labels.jsonl, pool folder of documents). The pool is the next
    `pool` documents of the set after the held-out ones, or the first of another `pool_set`."""
    full, pool_full = set_folder(set_name), set_folder(pool_set)
    names = sorted(p.name for p in (full / "docs").iterdir() if p.is_file())
    pool_names = sorted(p.name for p in (pool_full / "docs").iterdir() if p.is_file())
    start = 0 if pool_set != set_name else test
    if len(names) < test or len(pool_names) < start + pool:
        raise SystemExit(
            f"too few documents for --test {test} and --pool {pool}: {set_name} has {len(names)}, "
            f"{pool_set} {len(pool_names)}"
        )
    held, pooled = names[:test], pool_names[start : start + pool]
    held_dir, pool_dir = work / "test", work / "pool"
    for folder, source, chosen in ((held_dir / "docs", full, held), (pool_dir, pool_full, pooled)):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name in chosen:
            (folder / name).symlink_to(source / "docs" / name)
    lines = [line for line in (full / "labels.jsonl").read_text().splitlines() if line.strip()]
    kept = [line for line in lines if Path(json.loads(line)["file"]).name in held]
    (held_dir / "labels.jsonl").write_text("\n".join(kept) + "\n")
    return held_dir, pool_dir


def set_folder(set_name: str) -> Path:
    full = ROOT / "data" / "real_sets" / set_name
    if not (full / "docs").is_dir():
        raise SystemExit(f"{full / 'docs'} is missing: python bench/real_sets/build_sets.py --ensure")
    return full


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{shlex.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return round(time.perf_counter() - started, 1)


def corrected(labels_dir: Path, target: Path, schema_spec: str, set_name: str, n: int) -> dict[str, Any]:
    """Copy the labels folder and let a simulated person work through its `n` most doubtful values
    as the review page lets them: a value becomes the gold value where the document prints it
    (the person selects it in the text, or clears a field the gold leaves empty). Where the gold
    value is printed nowhere (the set's gold comes from data the page does not show, e.g. an
    invoice's embedded XML), there is nothing to select: the person keeps the teacher's value if
    the scorer would count it right (lenient), else clears the field. Return what changed."""
    schema = load_schema(schema_spec)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(labels_dir, target, ignore=shutil.ignore_patterns("teacher", "review.html", "finetune.jsonl"))
    labels = list(read_labels(target, schema).values())
    gold = {g.file: g.expected for g in gold_labels(ROOT / "data" / "real_sets" / set_name)}
    queue = review_queue(labels, schema)[:n]
    looked_at: dict[int, list[str]] = {}  # document -> its queued fields, in the page's order
    for item in queue:
        looked_at.setdefault(item["doc"], []).append(item["field"])
    changed, kept, cleared, touched = 0, [], [], {}
    for d, names in looked_at.items():
        label = labels[d]
        wanted = {name: gold[Path(label.file).name].get(name) for name in names}
        text = parse_file((labels_dir / label.file).resolve()).text
        given = {name: value for name, value in wanted.items() if value is not None}
        nowhere = {top_field(path) for path in unprinted(schema, given, text)}
        fields = touched[d] = dict(label.fields)
        for name, expected in wanted.items():
            where = f"{Path(label.file).name}:{name}"
            if name in nowhere:
                kind = field_kind(name, (g.get(name) for g in gold.values()))
                if compare(kind, expected, fields.get(name))[1]:
                    kept.append(where)
                    continue
                cleared.append(where)
                expected = None
            changed += fields.get(name) != expected
            fields[name] = expected
    out = []
    for d, label in enumerate(labels):
        if d in touched:
            fields = validate_fields(touched[d], schema, label.file)
            whole = len(looked_at[d]) == len(schema.fields)
            by = "simulated (gold values the document prints)"
            label = type(label)(**{**label.__dict__, "fields": fields, "reviewed": whole, "reviewed_by": by})
        out.append(label)
    write_labels(target, out)
    return {
        "values_corrected": len(queue),
        "values_changed": changed,
        "gold_not_printed": {"teacher_kept": kept, "cleared": cleared},
        "documents_reviewed": sum(x.reviewed for x in out),
    }


def reference_runs(set_name: str, test: int, teacher: str) -> dict[str, Any]:
    """The zero-shot runs of bench/results/real_sets on the same held-out documents (its "first N"
    subsets are the first N by name, as here): the teacher's and the embedded model's, newest each.
    Where real_sets has no teacher run, the teacher's run in the newest earlier loop on them."""
    path = ROOT / "bench" / "results" / "real_sets" / "runs.json"
    runs = json.loads(path.read_text()) if path.is_file() else {}
    history = subprocess.run(["git", "rev-list", "--abbrev-commit", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    age = {commit: i for i, commit in enumerate(history.stdout.split())}  # 0: the newest
    found: dict[str, Any] = {}
    newest_last = sorted(runs.values(), key=lambda run: (run["date"], -age.get(run["commit"], len(age))))
    for run in newest_last:
        if run["set"] == f"{set_name}, first {test}" and run["model"] in (teacher, "embedded"):
            found["teacher" if run["model"] == teacher else "embedded 135M"] = run
    out = {f"{who} zero-shot (real_sets run at {run['commit']})": run for who, run in found.items()}
    if "teacher" not in found:  # else the teacher's own run in an earlier loop on the same documents
        loops = json.loads(RUNS.read_text()) if RUNS.is_file() else {}
        earlier = [
            r
            for r in loops.values()
            if (r["set"], r["test_documents"], r["teacher"]) == (set_name, test, teacher)
            and "teacher zero-shot" in r["runs"]
        ]
        if earlier:
            newest = max(earlier, key=lambda r: (r["date"], -age.get(r["commit"], len(age))))
            out[f"teacher zero-shot (distil run at {newest['commit']})"] = newest["runs"]["teacher zero-shot"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", default="invoices", choices=sorted(SETS))
    parser.add_argument("--test", type=int, default=15)
    parser.add_argument("--pool", type=int, default=20)
    parser.add_argument(
        "--pool-set", choices=sorted(SETS), help="label the pool from this set (its first --pool) instead of --set"
    )
    parser.add_argument("--teacher", default="qwen2.5-coder-1.5b")
    parser.add_argument("--corrections", type=int, nargs="+", default=[0, 25, 100])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--seed", type=int, default=0, help="the students' training seed (another one shows a training run's spread)"
    )
    parser.add_argument(
        "--student", default="embedded", help="the base the students are trained on (a name `--model` takes)"
    )
    parser.add_argument(
        "--skip-teacher-eval",
        action="store_true",
        help="do not run the teacher on the test set (show its newest earlier run on it)",
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/extractor-distil"))
    parser.add_argument("--reuse-labels", action="store_true", help="keep the teacher labels of an earlier run")
    parser.add_argument(
        "--reuse-students",
        action="store_true",
        help="keep a student already trained for the same N and --epochs (its training time from its card)",
    )
    parser.add_argument("--render", action="store_true", help="only write README.md and loop.png again from runs.json")
    args = parser.parse_args(argv)
    if args.render:  # after a step's "note" was added to runs.json by hand
        write_results(json.loads(RUNS.read_text()))
        return 0

    work = args.work / args.set
    schema_spec = f"{ROOT / 'bench' / 'real_sets' / 'schemas.py'}:{SETS[args.set]}"
    pool_set = args.pool_set or args.set
    held, pool = split(args.set, args.test, args.pool, work, pool_set)
    record: dict[str, Any] = {
        "set": args.set,
        "date": dt.date.today().isoformat(),
        "commit": commit(),
        "teacher": args.teacher,
        "student": args.student,
        "test_documents": args.test,
        "pool_documents": args.pool,
        "pool_set": pool_set,
        "epochs": args.epochs,
        "seed": args.seed,
        "steps": {},
        "runs": {},
    }
    labels_dir = work / "labels"
    step_file = labels_dir / "label_step.json"  # how the labels were made, kept for --reuse-labels
    if args.reuse_labels and step_file.is_file():
        record["steps"]["label"] = {**json.loads(step_file.read_text()), "reused": True}
    else:
        shutil.rmtree(labels_dir, ignore_errors=True)
        label_cmd = [*EXTRACTOR, "label", str(pool), "-s", schema_spec, "-o", str(labels_dir), "--model", args.teacher]
        label_cmd += ["--n", str(args.pool), "-q"]
        record["steps"]["label"] = {"command": shlex.join(label_cmd[2:]), "wall_s": timed(label_cmd, work)}
        step_file.write_text(
            json.dumps({**record["steps"]["label"], "date": record["date"], "commit": record["commit"]})
        )
    print(f"labelled {args.pool} documents in {record['steps']['label']['wall_s']} s", flush=True)

    if not args.skip_teacher_eval:
        run = run_one(EXTRACTOR, held, args.set, args.teacher, work / "run-teacher", [])
        embedded = {k: v for k, v in reference_runs(args.set, args.test, args.teacher).items() if "embedded" in k}
        record["runs"].update(embedded)  # the model before distillation, from bench/results/real_sets
        record["runs"]["teacher zero-shot"] = run
        print(f"teacher on the test set: {run['docs_per_min']} docs/min", flush=True)
    else:
        record["runs"].update(reference_runs(args.set, args.test, args.teacher))
    for n in args.corrections:
        target = work / f"labels-{n}"
        record["steps"][f"correct {n}"] = corrected(labels_dir, target, schema_spec, pool_set, n)
        seed = f"seed{args.seed}" if args.seed else ""
        adapter = work / "-".join(filter(None, ("student", other_base(args.student), str(n), seed)))
        train = [*EXTRACTOR, "finetune", "-s", schema_spec, "--train", str(target), "--out", str(adapter)]
        train += ["--unreviewed-above", "0", "--epochs", str(args.epochs), "--dev-limit", "3", "--seed", str(args.seed)]
        if other_base(args.student):
            train += ["--model", args.student]
        card_path = adapter / "card.json"
        card = json.loads(card_path.read_text()) if args.reuse_students and card_path.is_file() else None
        hyper = card["hyperparameters"] if card else {}
        kept = card is not None and (hyper["epochs"], hyper.get("seed", 0)) == (args.epochs, args.seed)
        if kept:
            record["steps"][f"train {n}"] = {
                "command": shlex.join(train[2:]),
                "wall_s": card["training"]["seconds"],
                "reused": f"trained {card.get('created', '?')}; seconds from its card",
            }
        else:
            shutil.rmtree(adapter, ignore_errors=True)
            record["steps"][f"train {n}"] = {"command": shlex.join(train[2:]), "wall_s": timed(train, work)}
            card = json.loads(card_path.read_text())
        record["steps"][f"train {n}"]["card"] = {"training": card["training"], "labelled": card["data"]["labelled"]}
        run = run_one(EXTRACTOR, held, args.set, str(adapter), work / f"run-{adapter.name}", [])
        name = f"{other_base(args.student)} student, {n} values corrected".lstrip()
        record["runs"][name + (f", seed {args.seed}" if args.seed else "")] = run
        print(f"student {n}: trained in {record['steps'][f'train {n}']['wall_s']} s", flush=True)
        save(record)  # after every student: a run stopped later keeps what it measured
    print((RESULTS / "README.md").read_text())
    return 0


def other_base(student: str | None) -> str:
    """The students' base when it is not the embedded model ("" for the embedded one, and for runs
    recorded before `--student` existed)."""
    return "" if student in (None, "embedded") else student


def save(record: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs = json.loads(RUNS.read_text()) if RUNS.is_file() else {}
    seed = f"seed {record['seed']}" if record.get("seed") else ""
    parts = (record["set"], other_base(record.get("student")), seed, record["date"], record["commit"])
    key = " ".join(filter(None, parts))
    runs[key] = record
    RUNS.write_text(json.dumps(runs, indent=1, ensure_ascii=False) + "\n")
    write_results(runs)


def write_results(runs: dict[str, Any]) -> None:
    """README.md (every run's tables and steps) and loop.png (each model's newest run per set)."""
    (RESULTS / "README.md").write_text(render(runs))
    plot(runs, RESULTS / "loop.png")


def render(runs: dict[str, Any]) -> str:
    lines = [
        "# The label -> review -> distil loop on real documents",
        "",
        "Written by `bench/distil_loop.py` from `runs.json`. Per set: the teacher labels a pool of the set's",
        "documents (`extractor label`); a simulated person corrects the N most doubtful values in the order",
        "the review page shows them, **with the set's gold values** (no person was involved; where a",
        "`correct` step lists `gold_not_printed`, only gold values the document prints, as a person",
        "selects them in the page: see bench/distil_loop.py); a LoRA",
        "student on the embedded 135M model (or the base a section names) is trained on the pool's",
        "labels (`extractor finetune --train --unreviewed-above 0`) and scored on held-out documents of",
        "the same set. Accuracy: per labelled value, strict / lenient (bench/real_sets/score.py).",
        "docs/min end to end, llama.cpp, 2 CPU cores.",
        "",
        "![Fields right against documents per minute, each model's newest run per set](loop.png)",
        "",
    ]
    for record in runs.values():
        lines += [
            f"## {record['set']}"
            + (f", {other_base(record.get('student'))} student" if other_base(record.get("student")) else "")
            + f" ({record['date']}, {record['commit']})",
            "",
            f"Teacher `{record['teacher']}`; student base `{record.get('student', 'embedded')}`; "
            f"pool {record['pool_documents']} documents"
            + (f" of `{record['pool_set']}`" if record.get("pool_set", record["set"]) != record["set"] else "")
            + ", held out "
            f"{record['test_documents']}; {record['epochs']} epochs at most"
            + (f"; training seed {record['seed']}." if record.get("seed") else "."),
            "",
        ]
        fields = [f["field"] for f in next(iter(record["runs"].values()))["fields"]]
        header = ["model", "docs/min", *fields]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for name, run in record["runs"].items():
            cells = {f["field"]: f for f in run["fields"]}
            row = [name, f"{run['docs_per_min']:.1f}"]
            row += [f"{cells[f]['strict_acc']:.2f} / {cells[f]['lenient_acc']:.2f}" for f in fields]
            lines.append("| " + " | ".join(row) + " |")
        lines += ["", "| step | wall s | what |", "|---|---:|---|"]
        for step, info in record["steps"].items():
            if "wall_s" in info:
                reused = ""
                if isinstance(info.get("reused"), str):  # a student kept from an earlier run
                    reused = f" ({info['reused']})"
                elif info.get("reused"):
                    reused = f" (labels made {info.get('date', '')} at {info.get('commit', '')}, reused)"
                note = f" {info['note']}" if info.get("note") else ""  # added by hand to runs.json, dated
                lines.append(f"| {step} | {info['wall_s']} | `{info['command']}`{reused}{note} |")
            else:
                lines.append(f"| {step} | – | {json.dumps(info)} |")
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
