"""Evaluation output: scores.json, report.md and PNG charts (per-field F1; a comparison of two runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from extractor.evaluation import Evaluation


def as_dict(ev: Evaluation) -> dict[str, Any]:
    s = ev.scores
    return {
        "schema": ev.schema.name,
        "schema_fingerprint": ev.schema.fingerprint,
        "predictions": str(ev.predictions),
        "labels": str(ev.labels),
        "split": ev.split,
        "documents": s.documents,
        "with_row": s.predicted,
        "error_rows": s.failed,
        "missing": s.missing,
        "all_fields_correct": round(s.all_correct_rate, 4),
        "macro_f1": round(s.macro_f1, 4),
        "micro_f1": round(s.micro_f1, 4),
        "fields": {
            name: {
                "precision": round(f.precision, 4),
                "recall": round(f.recall, 4),
                "f1": round(f.f1, 4),
                "exact_match": round(f.exact_match, 4),
                "tp": f.tp,
                "fp": f.fp,
                "fn": f.fn,
            }
            for name, f in s.fields.items()
        },
        "all_fields_correct_by_family": {
            family: {"correct": ok, "documents": n} for family, (ok, n) in sorted(s.by_family.items())
        },
        "by_family": {
            family: {
                "documents": f.documents,
                "micro_f1": round(f.micro_f1, 4),
                "macro_f1": round(f.macro_f1, 4),
                "f1": {name: round(x.f1, 4) for name, x in f.fields.items()},
            }
            for family, f in s.families.items()
        },
    }


def write_report(ev: Evaluation, out_dir: Path, baseline: Evaluation | None = None, command: str = "") -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "scores.json", out_dir / "report.md", out_dir / "f1.png"]
    data = as_dict(ev)
    if baseline is not None:
        data["baseline"] = as_dict(baseline)
    written[0].write_text(json.dumps(data, indent=2) + "\n")
    written[1].write_text(markdown(ev, baseline, command))
    _bar_chart(ev, written[2])
    if baseline is not None:
        written.append(out_dir / "compare.png")
        _compare_chart(ev, baseline, written[-1])
    return written


def markdown(ev: Evaluation, baseline: Evaluation | None = None, command: str = "") -> str:
    s = ev.scores
    lines = [f"# Evaluation: {ev.schema.name}", ""]
    if command:
        lines += ["```", command, "```", ""]
    lines += [
        f"- predictions: `{ev.predictions}`",
        f"- labels: `{ev.labels}`" + (f" (split `{ev.split}`)" if ev.split else ""),
        f"- documents: {s.documents} (with a row: {s.predicted}, error rows: {s.failed}, missing: {s.missing})",
        f"- all fields correct: {s.all_correct_rate:.1%} of documents; macro F1 {s.macro_f1:.3f}; "
        f"micro F1 {s.micro_f1:.3f}",
        "",
        "| field | precision | recall | F1 | exact match |" + (" F1 baseline | Δ F1 |" if baseline else ""),
        "|---|---:|---:|---:|---:|" + ("---:|---:|" if baseline else ""),
    ]
    for name, f in s.fields.items():
        row = f"| {name} | {f.precision:.3f} | {f.recall:.3f} | {f.f1:.3f} | {f.exact_match:.3f} |"
        if baseline is not None:
            b = baseline.scores.fields.get(name)
            row += f" {b.f1:.3f} | {f.f1 - b.f1:+.3f} |" if b else " – | – |"
        lines.append(row)
    lines += ["", "All fields correct, by layout family:", "", "| family | correct | documents |", "|---|---:|---:|"]
    lines += [f"| {fam or '(none)'} | {ok} | {n} |" for fam, (ok, n) in sorted(s.by_family.items())]
    if s.families:
        names = list(s.families)
        lines += ["", "F1 by layout family:", "", "| field | " + " | ".join(f or "(none)" for f in names) + " |"]
        lines.append("|---|" + "---:|" * len(names))
        for field_name in s.fields:
            cells = (s.families[f].fields.get(field_name) for f in names)
            lines.append(f"| {field_name} | " + " | ".join(f"{c.f1:.3f}" if c else "–" for c in cells) + " |")
        lines.append("| **micro F1** | " + " | ".join(f"**{s.families[f].micro_f1:.3f}**" for f in names) + " |")
    return "\n".join(lines) + "\n"


def _bar_chart(ev: Evaluation, path: Path) -> None:
    plt = _pyplot()
    names = list(ev.scores.fields)
    values = [ev.scores.fields[n].f1 for n in names]
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(names) + 2), 4))
    bars = ax.bar(names, values, color="#3b7dd8")
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1")
    ax.set_title(
        f"{ev.schema.name}: per-field F1 ({ev.scores.documents} documents"
        + (f", split {ev.split}" if ev.split else "")
        + ")"
    )
    ax.tick_params(axis="x", rotation=35)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _compare_chart(ev: Evaluation, baseline: Evaluation, path: Path) -> None:
    plt = _pyplot()
    names = list(ev.scores.fields)
    width = 0.4
    xs = range(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(names) + 2), 4))
    ax.bar(
        [x - width / 2 for x in xs],
        [baseline.scores.fields[n].f1 if n in baseline.scores.fields else 0 for n in names],
        width,
        label=f"baseline: {_run_name(baseline)}",
        color="#aaaaaa",
    )
    ax.bar(
        [x + width / 2 for x in xs],
        [ev.scores.fields[n].f1 for n in names],
        width,
        label=f"this run: {_run_name(ev)}",
        color="#3b7dd8",
    )
    ax.set_xticks(list(xs), names, rotation=35, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=2, fontsize=8, frameon=False)
    ax.set_title(f"{ev.schema.name}: per-field F1, two runs")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _run_name(ev: Evaluation) -> str:
    """The run's output folder, e.g. 'zero-shot-json/invoice'."""
    return "/".join(ev.predictions.resolve().parts[-3:-1])


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt
