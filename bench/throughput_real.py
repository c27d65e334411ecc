"""Throughput on real documents: llama.cpp answering one prompt at a time against several at once,
next to llama.cpp's own batched decode rate on the same machine. Run by bench/throughput.py:

    .venv/bin/python bench/throughput.py --real     -> bench/results/throughput/results.json + README.md

Variants (each in its own process, so peak RSS is the variant's):
- anchor: llama.cpp's own throughput for a model (the file the engine loads: the embedded Q4_1 as
  its Q8_0 copy, engines/gguf_layout.py; `_q4_1`: as shipped), with llama-cpp-python's low-level API and the
  same threads: an 800-token prompt evaluated once and shared, 100 tokens of each sequence's own,
  then 64 decode steps of B sequences (one token each, logits read, greedy choice) for B in 1, 2,
  4, 8, with the attention kernel the engine runs by default. No grammar, no Python work per
  token beyond the argmax: what llama.cpp itself does.
- real: `extractor.pipeline.run` (grounded decoding, parse pool) with `LlamaCppEngine(slots=S)`
  (`_q4_1`: `requantise=False`, the embedded model's shipped weights as they are; `_fa`:
  `flash_attention=True`, llama.cpp's fused attention kernel, off by default)
  on the first documents (by name) of the labelled real sets (bench/real_sets): one-page invoices
  and Kleister-Charity annual reports (long: read in parts). Per set: docs/min, the answers (the
  agreement of slots=S with slots=1 is computed in the report), field accuracy against the set's
  labels (bench/real_sets/score.py), and where the time went: parse (the pool's time per
  document, overlapping decoding), prompt evaluation (prefill), decode steps, choosing tokens
  (grammar, guard: Python and llguidance).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "out" / "bench-throughput-real"
MODELS = {"embedded": "embedded", "qwen": "qwen2.5-coder-1.5b"}


def variant_anchor(args: argparse.Namespace) -> dict[str, Any]:
    import llama_cpp
    import numpy as np
    from llama_cpp import _internals

    from extractor.engines.gguf_layout import cpu_weights
    from extractor.engines.llama_batch import flash_attn_type
    from extractor.engines.llama_load import load_llama
    from extractor.engines.llamacpp import FLASH_ATTENTION
    from extractor.engines.model_store import resolve_model

    source = resolve_model(args.model)
    assert source.gguf is not None
    path = str(cpu_weights(source.gguf, source.sha256) if args.requantise else source.gguf)
    threads = len(os.sched_getaffinity(0))
    llm = load_llama(path, n_ctx=256, n_threads=threads, n_threads_batch=threads, verbose=False)
    sizes = list(args.batch_sizes)
    params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
    params.n_ctx = 800 + max(sizes) * (100 + 64) + 256
    params.n_batch = params.n_ubatch = 512
    params.n_seq_max = max(sizes)
    params.kv_unified = True
    params.n_threads = params.n_threads_batch = threads
    # the attention kernel the engine runs by default, so that the decode rates compare like with like
    params.flash_attn_type = flash_attn_type(FLASH_ATTENTION)
    ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
    batch = llama_cpp.llama_batch_init(512, 0, 1)
    n_vocab = llm.n_vocab()

    def submit(items: list[tuple[int, int, int, bool]]) -> None:
        batch.n_tokens = len(items)
        for i, (token, pos, seq, logits) in enumerate(items):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, 1, logits
            batch.seq_id[i][0] = seq
        if llama_cpp.llama_decode(ctx.ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")

    rng = np.random.default_rng(0)
    prompt = [int(t) for t in rng.integers(100, min(n_vocab, 30000), size=800)]
    out: dict[str, Any] = {"model": args.model, "file": Path(path).name, "threads": threads, "decode_tokens_per_s": {}}
    for size in sizes:
        llama_cpp.llama_memory_clear(ctx.memory, True)
        started = time.perf_counter()
        for at in range(0, len(prompt), 512):
            chunk = prompt[at : at + 512]
            submit([(t, at + k, 0, False) for k, t in enumerate(chunk)])
        prefill_s = time.perf_counter() - started
        for seq in range(1, size):
            llama_cpp.llama_memory_seq_cp(ctx.memory, 0, seq, -1, -1)
        own = [[int(t) for t in rng.integers(100, 30000, size=100)] for _ in range(size)]
        for seq in range(size):
            submit([(t, 800 + k, seq, k == 99) for k, t in enumerate(own[seq])])
        steps = 64
        started = time.perf_counter()
        for step in range(steps):
            submit([(1000 + step + seq, 900 + step, seq, True) for seq in range(size)])
            for i in range(size):
                logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx.ctx, i), shape=(n_vocab,))
                int(logits.argmax())
        decode_s = time.perf_counter() - started
        out["decode_tokens_per_s"][str(size)] = round(size * steps / decode_s, 1)
        out.setdefault("prefill_tokens_per_s", round(len(prompt) / prefill_s, 1))
    llama_cpp.llama_batch_free(batch)
    return out


def variant_real(args: argparse.Namespace) -> dict[str, Any]:
    from bench.real_sets.run import subset
    from extractor.config import RunConfig
    from extractor.engines.llamacpp import LlamaCppEngine

    started = time.perf_counter()
    engine = LlamaCppEngine(
        args.model, slots=args.slots, requantise=args.requantise, flash_attention=args.flash_attention
    )
    out: dict[str, Any] = {
        "model": args.model,
        "file": Path(engine.llama.model_path).name,
        "slots": args.slots,
        "flash_attention": args.flash_attention,
        "load_s": round(time.perf_counter() - started, 2),
    }
    for set_name, limit in args.sets:
        out[set_name] = _measure(engine, set_name, subset(set_name, limit, WORK), RunConfig(max_new_tokens=1024))
    out["most_sequences"] = engine._sequences.stats.most_sequences
    return out


def variant_parts(args: argparse.Namespace) -> dict[str, Any]:
    """The long reports read in parts of each size (document tokens per prompt), one engine."""
    from bench.real_sets.run import subset
    from extractor.config import RunConfig
    from extractor.engines.llamacpp import LlamaCppEngine

    engine = LlamaCppEngine(args.model, context_tokens=args.context_tokens)
    folder = subset(args.set, args.docs, WORK, shortest=True)
    out: dict[str, Any] = {"model": args.model, "file": Path(engine.llama.model_path).name, "set": args.set}
    for size in args.part_sizes:
        config = RunConfig(max_new_tokens=1024, max_input_tokens=size)
        out[str(size)] = _measure(engine, args.set, folder, config)
    return out


def _measure(engine: Any, set_name: str, folder: Path, config: Any) -> dict[str, Any]:
    """One pipeline run over `folder`'s documents: speed, where the time went, accuracy, answers."""
    import pandas as pd

    from bench.real_sets.run import SETS
    from bench.real_sets.score import score
    from extractor.pipeline import run
    from extractor.schema import load_schema

    files = sorted((folder / "docs").iterdir())
    schema = load_schema(f"{ROOT / 'bench' / 'real_sets' / 'schemas.py'}:{SETS[set_name]}")
    before = engine._sequences.stats.as_dict()
    started = time.perf_counter()
    result = run(files, schema, engine, config)
    seconds = time.perf_counter() - started
    after = engine._sequences.stats.as_dict()
    records = [r for r in result.records if r.provenance is not None]
    rows = pd.DataFrame([{"source_path": r.source, **(r.data or {})} for r in records if r.data is not None])
    accuracy = score(folder, rows)
    stats = {
        k: round(after[k] - before[k], 3)
        for k in ("prefill_tokens", "prefill_s", "steps", "step_tokens", "step_s", "choose_s")
    }
    return {
        "docs": len(files),
        "ok": result.ok,
        "seconds": round(seconds, 2),
        "docs_per_min": round(60 * len(files) / seconds, 2),
        "parts": sum(r.provenance.chunks for r in records),
        "prompt_tokens": sum(r.provenance.prompt_tokens for r in records),
        "answer_tokens": sum(r.provenance.completion_tokens for r in records),
        "parse_s": round(sum(r.provenance.parse_s for r in records), 2),
        "decode": stats,
        "accuracy": {row["field"]: round(float(row["strict_acc"]), 3) for row in accuracy.to_dict("records")},
        "answers": {Path(r.source).name: r.data for r in result.records},
    }


VARIANTS = {"anchor": variant_anchor, "real": variant_real, "parts": variant_parts}


SETS = {"embedded": [("invoices", 15), ("charity_text", 1)], "qwen": [("invoices", 6)]}
# What each variant's speed and answers are compared with, one change at a time: four slots with one;
# flash attention with none (the engine's default); the embedded model's Q8_0 copy (the default) with
# its Q4_1 file as shipped.
BASES = {
    "real_embedded_4": "real_embedded_1",
    "real_embedded_1": "real_embedded_1_q4_1",
    "real_embedded_1_fa": "real_embedded_1",
    "real_qwen_4": "real_qwen_1",
    "real_qwen_1_fa": "real_qwen_1",
}


def plan(have_qwen: bool) -> dict[str, tuple[str, dict[str, Any]]]:
    """Result key -> (variant, options): both models, one answer at a time and four; the embedded
    model also as shipped (Q4_1; the 1.5B model's Q4_K_M runs as it is)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, model in MODELS.items():
        if name == "qwen" and not have_qwen:
            continue
        out[f"anchor_{name}"] = ("anchor", {"model": model, "batch_sizes": [1, 2, 4, 8], "requantise": True})
        if name == "embedded":
            anchor = {"model": model, "batch_sizes": [1, 4], "requantise": False}
            out["anchor_embedded_q4_1"] = ("anchor", anchor)
            shipped = {"model": model, "slots": 1, "sets": SETS[name], "requantise": False, "flash_attention": False}
            out["real_embedded_1_q4_1"] = ("real", shipped)
        for slots in (1, 4):
            options = {"model": model, "slots": slots, "sets": SETS[name], "requantise": True, "flash_attention": False}
            out[f"real_{name}_{slots}"] = ("real", options)
        flash = {"model": model, "slots": 1, "sets": SETS[name], "requantise": True, "flash_attention": True}
        out[f"real_{name}_1_fa"] = ("real", flash)
        if name == "embedded":
            parts = {"model": model, "set": "charity_text", "docs": 8, "part_sizes": [1024, 2048, 4096]}
            out["parts_embedded"] = ("parts", {**parts, "context_tokens": 8192})
    return out


# -- report ------------------------------------------------------------------------------------


def _flash(result: dict[str, Any]) -> str:
    """Whether a run had flash attention: "on", "off", or "" for runs recorded before the option."""
    return {True: "on", False: "off"}.get(result.get("flash_attention"), "")


def report(results: dict[str, Any]) -> list[str]:
    lines = ["## Real documents: weights, one answer at a time and several (llama.cpp)", ""]
    keys = [k for k in results if k.startswith("real_")]
    if not keys:
        return []
    lines += [
        "`LlamaCppEngine(slots=S)`: S answers decode together in one context (the parts of a long document, "
        "or several documents), from the file named (the embedded model's Q4_1 as shipped, or the Q8_0 copy the "
        "engine makes of it), with flash attention (FA) or without; grounded decoding, parse pool, answer budget "
        "1024. Speed-up and agreement, one change at a time: four slots against one, FA against none on the same "
        "file, and the Q8_0 copy against the Q4_1 file. Time columns are seconds "
        "summed over the documents: parse (in the pool, overlapping decoding), prefill (prompt tokens "
        "evaluated), steps (decode calls), choose (grammar mask, list guard and choice per token).",
        "",
        "| model | file | FA | set | docs | slots | docs/min | speed-up | parts | prompt tok | answer tok | parse s "
        "| prefill s | steps s | choose s | accuracy (micro, strict) | agreement | peak RSS MiB |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    differences: list[str] = []
    for key in keys:
        r = results[key]
        base_key = BASES.get(key, "")
        base = results.get(base_key, {})
        for set_name, s in r.items():
            if not isinstance(s, dict) or "docs" not in s:
                continue
            b = base.get(set_name, {})
            speed = agree = ""
            if b:
                speed = f"{s['docs_per_min'] / b['docs_per_min']:.2f}x"
                same, total, diffs = _agreement(b["answers"], s["answers"])
                agree = f"{same}/{total} fields"
                differences += [f"- {key} against {base_key}, {set_name}: {d}" for d in diffs]
            d = s["decode"]
            lines.append(
                f"| {r['model']} | {r.get('file', '')} | {_flash(r)} | {set_name} | {s['docs']} | {r['slots']} "
                f"| {s['docs_per_min']} | {speed} "
                f"| {s['parts']} | {s['prompt_tokens']} | {s['answer_tokens']} | {s['parse_s']} "
                f"| {d['prefill_s']:.1f} | {d['step_s']:.1f} | {d['choose_s']:.1f} "
                f"| {s['accuracy'].get('ALL (micro)', '')} | {agree} "
                f"| {r.get('process', {}).get('peak_rss_mib', '')} |"
            )
    lines += ["", "Fields that differ from the variant compared with:", ""] + (differences or ["- none"])
    anchors = [k for k in results if k.startswith("anchor_")]
    if anchors:
        lines += [
            "",
            "### Decode rate against llama.cpp's own",
            "",
            "llama.cpp's own: tokens per second decoding B sequences at once with llama-cpp-python's low-level API "
            "(no grammar), the same model and threads. The pipeline's: tokens evaluated while answering per second "
            "of decode steps and token choice, over all sets of the run with slots=4 (one step feeds each "
            "sequence its chosen token and the tokens its grammar forces).",
            "",
            "| model | file | prefill tok/s | B=1 | B=2 | B=4 | B=8 | pipeline slots=1 | pipeline slots=4 |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for key in anchors:
            a = results[key]
            name, _, weights = key.removeprefix("anchor_").partition("_")
            suffix = f"_{weights}" if weights else ""
            rates = [_pipeline_rate(results.get(f"real_{name}_{s}{suffix}", {})) for s in (1, 4)]
            t = a["decode_tokens_per_s"]
            lines.append(
                f"| {a['model']} | {a.get('file', '')} | {a['prefill_tokens_per_s']} | {t.get('1')} | {t.get('2')} "
                f"| {t.get('4')} | {t.get('8')} | {rates[0]} | {rates[1]} |"
            )
    return lines + _parts_report(results) + [""]


def _parts_report(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for key in (k for k in results if k.startswith("parts_")):
        r = results[key]
        sizes = [k for k in r if k.isdigit()]
        if not sizes:
            continue
        fields = [f for f in r[sizes[0]]["accuracy"] if f != "ALL (micro)"]
        lines += [
            "",
            f"### Part size of long documents ({r['model']}, {r['file']})",
            "",
            f"The {r[sizes[0]]['docs']} shortest reports of `{r['set']}` read in parts of N document tokens "
            "(`max_input_tokens`; 128 tokens repeated between parts), one engine with an 8,192-token context. "
            "Accuracy: strict, per field, against the Kleister-Charity labels.",
            "",
            "| part tokens | parts | prompt tok | answer tok | seconds | docs/min | "
            + " | ".join(fields)
            + " | micro |",
            "|---:|---:|---:|---:|---:|---:|" + "---:|" * (len(fields) + 1),
        ]
        for size in sizes:
            s = r[size]
            accuracy = " | ".join(str(s["accuracy"].get(f, "")) for f in fields)
            lines.append(
                f"| {size} | {s['parts']} | {s['prompt_tokens']} | {s['answer_tokens']} | {s['seconds']} "
                f"| {s['docs_per_min']} | {accuracy} | {s['accuracy'].get('ALL (micro)', '')} |"
            )
    return lines


def _pipeline_rate(r: dict[str, Any]) -> str:
    tokens = seconds = 0.0
    for s in r.values():
        if isinstance(s, dict) and "decode" in s:
            tokens += s["decode"]["step_tokens"]
            seconds += s["decode"]["step_s"] + s["decode"]["choose_s"]
    return f"{tokens / seconds:.1f}" if seconds else ""


def _agreement(base: dict[str, Any], other: dict[str, Any]) -> tuple[int, int, list[str]]:
    same = total = 0
    diffs = []
    for name, row in base.items():
        mine = other.get(name)
        for field in sorted(set(row or {}) | set(mine or {})):
            a, b = (row or {}).get(field), (mine or {}).get(field)
            total += 1
            if str(a) == str(b):
                same += 1
            else:
                diffs.append(f"{name} `{field}`: {str(a)[:60]!r} -> {str(b)[:60]!r}")
    return same, total, diffs
