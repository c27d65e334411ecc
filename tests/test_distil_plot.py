"""bench/distil_plot: which run each point of the loop's chart shows, and that the chart is drawn.
Fast: no model."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PLOT = Path(__file__).resolve().parent.parent / "bench" / "distil_plot.py"
spec = importlib.util.spec_from_file_location("distil_plot", PLOT)
distil_plot = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = distil_plot
spec.loader.exec_module(distil_plot)


def _run(right: float, speed: float) -> dict:
    return {
        "docs_per_min": speed,
        "fields": [{"field": "total", "strict_acc": 0.0}, {"field": "ALL (micro)", "strict_acc": right}],
    }


def test_each_model_keeps_its_newest_run_and_seeds_stay_apart(tmp_path):
    runs = {
        "invoices old": {
            "set": "invoices",
            "runs": {
                "teacher zero-shot": _run(0.80, 3.0),
                "student, 0 values corrected": _run(0.30, 11.0),
                "gemma3-270m student, 100 values corrected": _run(0.70, 12.0),
            },
        },
        "invoices new": {
            "set": "invoices",
            "runs": {
                "teacher zero-shot (real_sets run at abc1234)": _run(0.84, 3.2),
                "gemma3-270m student, 100 values corrected": _run(0.77, 12.0),
                "gemma3-270m student, 100 values corrected, seed 1": _run(0.81, 12.5),
                "embedded 135M zero-shot (real_sets run at abc1234)": _run(0.20, 14.0),
            },
        },
        "receipts": {"set": "receipts", "runs": {"student, 100 values corrected": _run(0.46, 21.6)}},
    }
    found = distil_plot.newest_runs(runs)
    invoices = {key: distil_plot.accuracy(run) for key, run in found["invoices"].items()}
    assert invoices == {
        ("teacher", "", -1, 0): 0.84,
        ("student", "", 0, 0): 0.30,
        ("student", "gemma3-270m", 100, 0): 0.77,
        ("student", "gemma3-270m", 100, 1): 0.81,
        ("embedded", "", -1, 0): 0.20,
    }
    assert list(found["receipts"]) == [("student", "", 100, 0)]
    png = distil_plot.plot(runs, tmp_path / "loop.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
