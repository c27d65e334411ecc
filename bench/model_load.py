"""Model load time of the embedded model: first use (GGUF -> cached checkpoint) and cached.

    .venv/bin/python bench/model_load.py        -> bench/results/model_load.json

Each load runs in a fresh subprocess, so imports are counted as a user meets them; the first
load uses an empty cache folder.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOAD = "from extractor.engines.transformers import TransformersEngine; TransformersEngine()"


def timed_load(cache: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", LOAD],
        check=True,
        env={**os.environ, "EXTRACTOR_CACHE_DIR": cache},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        first = timed_load(cache)
        cached = [timed_load(cache) for _ in range(3)]
    result = {
        "first_load_s": round(first, 1),
        "cached_load_s": [round(c, 1) for c in cached],
        "note": "wall time of a fresh process: imports + (first) GGUF dequantisation and checkpoint write + load",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    out = Path(__file__).parent / "results" / "model_load.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
