"""The weights llama.cpp runs on a CPU: a GGUF whose quantisation has no fast CPU matrix path is
re-quantised once to Q8_0, which has one.

llama.cpp multiplies a prompt's matrices with its tinyBLAS kernels (and repacked ones) for F16,
BF16, Q8_0, Q4_0, Q5_0, IQ4_NL and the K-quants, and with a slow generic loop for the rest. The
embedded SmolLM2-135M ships as Q4_1, one of the rest. Measured on 2 cores with llama-cpp-python
0.3.36 (a 1,024-token prompt, then 48 decode steps; bench/throughput.py --real measures the
pipeline):

| file | MiB | prompt tokens/s | decode tokens/s |
|---|---:|---:|---:|
| Q4_1, as shipped | 93 | 202 | 69 |
| Q8_0, from the Q4_1 | 138 | 415 | 90 |
| F16, from the Q4_1 | 258 | 337 | 60 |
| Q4_0, from the Q4_1 | 87 | 480 | 102 |

Q8_0 keeps the shipped values closest of the fast types: each block of 32 Q4_1 values (16 levels
between a minimum and a maximum) is stored on 255 levels. Q4_0 rounds them to 16 other levels
and loses the Q4_1 offsets: on 15 real invoices it read as fast as Q8_0 end to end (13.5 against
12.8 a minute) but gave 48 of 75 fields as the Q4_1 file did, against Q8_0's 74.

The Qwen2.5-Coder-1.5B file is Q4_K_M, which has a fast path (73 prompt tokens/s as is, 52 as
Q8_0), so it runs as is.

Converted once per source file (keyed by its SHA-256) into the cache folder, in under a second for
135M; a killed conversion leaves no half file.
"""

from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path

from extractor.engines.model_store import cache_dir, written_whole
from extractor.errors import ConfigError

# llama.cpp's `general.file_type` values (LLAMA_FTYPE_MOSTLY_*) run through its slow generic CPU
# matrix loop, and the type each is converted to.
SLOW_ON_CPU = {3: "Q4_1"}
TARGET = "Q8_0"
TARGET_FTYPE = 7  # LLAMA_FTYPE_MOSTLY_Q8_0


def cpu_weights_type(gguf: Path) -> str | None:
    """The type the llama.cpp engine re-quantises `gguf` to on a CPU, or None to run it as is."""
    stat = gguf.stat()
    return _planned(str(gguf.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _planned(path: str, size: int, mtime_ns: int) -> str | None:
    return TARGET if file_type(Path(path)) in SLOW_ON_CPU else None


def file_type(gguf: Path) -> int | None:
    """The GGUF's `general.file_type` (None when it declares none, is no GGUF llama.cpp can read, or
    llama-cpp-python is missing: loading it then fails with its own message). Read by llama.cpp
    loading the vocabulary only (well under a second; the gguf package's reader takes ~20 s on the
    1.5B model, building an object per vocabulary entry)."""
    try:
        import llama_cpp
        from llama_cpp._utils import suppress_stdout_stderr
    except ImportError:
        return None
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    with suppress_stdout_stderr(disable=False):  # llama.cpp logs the whole header
        model = llama_cpp.llama_model_load_from_file(str(gguf).encode(), params)
    if not model:
        return None
    try:
        value = ctypes.create_string_buffer(32)
        found = llama_cpp.llama_model_meta_val_str(model, b"general.file_type", value, len(value))
        return int(value.value) if found > 0 and value.value.isdigit() else None
    finally:
        llama_cpp.llama_model_free(model)


def cpu_weights(gguf: Path, sha256: str) -> Path:
    """The file llama.cpp should load for `gguf` (SHA-256 `sha256`): itself, or its Q8_0 copy,
    converted now when the cache does not hold it yet."""
    target_type = cpu_weights_type(gguf)
    if target_type is None:
        return gguf
    target = cache_dir() / "gguf-cpu" / f"{gguf.stem}-{sha256[:16]}.{target_type}.gguf"
    if target.is_file():
        return target
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = TARGET_FTYPE
    params.allow_requantize = True
    params.nthread = len(os.sched_getaffinity(0))
    with written_whole(target) as tmp:
        with suppress_stdout_stderr(disable=False):  # llama.cpp logs each tensor
            failed = llama_cpp.llama_model_quantize(str(gguf).encode(), str(tmp).encode(), params)
        if failed:
            raise ConfigError(f"llama.cpp could not convert {gguf.name} to {target_type} (into {target.parent})")
    return target
