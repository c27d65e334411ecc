"""The distillation loop's accuracy against speed, one panel per set: bench/results/distil/loop.png.

Each model's newest run per set in `runs.json` (bench/distil_loop.py writes both): the teacher, the
embedded model, and each student by base, number of corrected values and training seed. The
dashed lines mark the issue's target for a student: within 0.05 of its teacher's accuracy (the
shaded band reaches down to it), at four times its speed or more (right of the vertical line).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

BASES = {"": ("SmolLM2-135M", "tab:blue"), "gemma3-270m": ("Gemma 3 270M", "tab:orange")}
MARKERS = {0: "o", 25: "s", 100: "^"}


def newest_runs(runs: dict[str, Any]) -> dict[str, dict[tuple[str, str, int, int], dict[str, Any]]]:
    """{set: {(who, base, corrected, seed): run}}, the newest of each (runs.json keeps records in the
    order they were made). `who` is "teacher", "embedded" or "student"."""
    out: dict[str, dict[tuple[str, str, int, int], dict[str, Any]]] = {}
    for record in runs.values():
        for name, run in record["runs"].items():
            if name.startswith("teacher"):
                key = ("teacher", "", -1, 0)
            elif name.startswith("embedded"):
                key = ("embedded", "", -1, 0)
            else:
                found = re.match(r"(?:(\S+) )?student, (\d+) values corrected(?:, seed (\d+))?$", name)
                if found is None:
                    continue
                base, n, seed = found.groups()
                key = ("student", base or "", int(n), int(seed or 0))
            out.setdefault(record["set"], {})[key] = run
    return out


def accuracy(run: dict[str, Any]) -> float:
    """The share of labelled values right (strict), over every field: the tables' "fields right"."""
    return next(f["strict_acc"] for f in run["fields"] if f["field"].startswith("ALL"))


def plot(runs: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    sets = newest_runs(runs)
    fig, axes = plt.subplots(1, len(sets), figsize=(6 * len(sets), 6.2), squeeze=False)
    for ax, (set_name, found) in zip(axes[0], sets.items(), strict=True):
        teacher = found.get(("teacher", "", -1, 0))
        if teacher is not None:
            acc, speed = accuracy(teacher), teacher["docs_per_min"]
            ax.axhspan(acc - 0.05, acc, color="0.92", zorder=0)
            ax.axhline(acc, color="0.5", ls="--", lw=0.8)
            ax.axvline(4 * speed, color="0.5", ls=":", lw=0.8)
            ax.annotate(" 4× the teacher's speed", (4 * speed, 0.98), fontsize=8, color="0.4", va="top")
        for (who, base, n, seed), run in sorted(found.items()):
            x, y = run["docs_per_min"], accuracy(run)
            if who == "teacher":
                ax.scatter(x, y, marker="*", s=160, color="black", label="teacher, Qwen2.5-Coder-1.5B", zorder=3)
            elif who == "embedded":
                ax.scatter(x, y, marker="x", s=60, color="0.4", label="embedded 135M, zero-shot", zorder=3)
            else:
                name, colour = BASES.get(base, (base, "tab:green"))
                hollow = seed != 0
                ax.scatter(
                    x,
                    y,
                    marker=MARKERS.get(n, "D"),
                    s=60,
                    facecolors="none" if hollow else colour,
                    edgecolors=colour,
                    label=f"{name} student, {n} corrected" + (f", seed {seed}" if seed else ""),
                    zorder=3,
                )
        ax.set_title(f"{set_name}: {len(next(iter(found.values()))['fields']) - 1} fields")
        ax.set_xlabel("documents per minute (2 CPU cores, end to end)")
        ax.set_ylabel("fields right (strict)")
        ax.set_ylim(0, 1)
        right = max([run["docs_per_min"] for run in found.values()] + [4 * teacher["docs_per_min"] if teacher else 0])
        ax.set_xlim(0, right * 1.25)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    fig.suptitle("Label -> review -> distil: students against their teacher on held-out real documents", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
