"""Throughput: documents per minute, tokens per second, parse pages per second, time to first row and
peak RSS, for the naive loop, the pipeline as it ships and llama.cpp, side by side in one run.

    .venv/bin/python bench/throughput.py            -> bench/results/throughput/results.json + README.md
    .venv/bin/python bench/throughput.py --quick    (a smaller corpus, for trying things)

Corpus: generated, fixed seeds: 100 invoices and 50 customer emails (`extractor synth`), plus
1,000 invoices for the memory-growth check. All model variants use the embedded SmolLM2-135M
(no adapter), so the same weights run everywhere. Every variant runs in its own process; wall time
and peak RSS come from wait4(). Numbers are to be compared as ratios within one run.

Variants
- parse: every corpus file parsed in-process (one core), then by the parse pool (2 workers).
- naive: one document at a time, plain outlines generation (`outlines.from_transformers`, JSON
  Schema output type, its default backend), on the first documents of the corpus.
- shipped: `extractor.pipeline.run` as it ships (parse pool, grounded decoding, engine `auto`: on a
  CPU with llama-cpp-python installed, the llama.cpp engine), on the whole corpus; the agreement of
  its rows with the transformers engine's.
- transformers: the same with the transformers engine (length-sorted batches, the batched decoder
  with shared-prefix cache and jump-forward), on the whole corpus; and with `--decoding json`, the
  naive loop's constraint.
- batch: the transformers engine's decode throughput by batch size (JSON constraint), and the
  llama.cpp engine's on the same documents (if llama-cpp-python is installed).
- constraint: one document at a time: constrained with jump-forward, without, and unconstrained
  decoding of exactly as many tokens as the constrained answer had.
- memory: the nightly path (`run_incremental`, parse pool, commits) with a stand-in engine on 100
  and on 1,000 invoices: does peak RSS grow with the corpus?
- `--real` runs only the real-document variants of bench/throughput_real.py instead: llama.cpp
  answering one prompt at a time against four at once on the labelled real sets, for the embedded
  model (as its Q8_0 copy, and its Q4_1 file as shipped) and (when pulled) Qwen2.5-Coder-1.5B,
  next to llama.cpp's own prompt and batched decode rates; and the long reports read in parts of
  three sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import throughput_real  # bench/, the script's own folder

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "throughput"
CORPUS = ROOT / "out" / "bench-throughput"
MAX_NEW_TOKENS = 1024


# -- corpus ------------------------------------------------------------------------------------


def make_corpus(invoices: int, emails: int, memory_docs: int) -> dict[str, Path]:
    from extractor import synth

    folders = {"invoice": CORPUS / f"invoice-{invoices}", "customer_email": CORPUS / f"customer_email-{emails}"}
    for schema, n in (("invoice", invoices), ("customer_email", emails)):
        if not (folders[schema] / synth.LABELS_FILE).is_file():
            synth.generate(schema, n, seed=7, out=folders[schema])
    memory = CORPUS / f"memory-{memory_docs}"
    if not (memory / synth.LABELS_FILE).is_file():
        synth.generate("invoice", memory_docs, seed=8, out=memory)
    folders["memory"] = memory
    folders["text_pdf"] = text_pdfs(CORPUS / "text-pdf", 50)
    return folders


def text_pdfs(folder: Path, n: int) -> Path:
    """`n` one-page PDFs of running text (no tables, no drawings): what plain text parsing costs."""
    from extractor.synth.render import html_pdf

    if len(list(folder.glob("*.pdf"))) == n:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        paragraph = (
            f"<p>Report {i}: in the second quarter the partners drilled {i + 3} wells and trained "
            f"{40 + i} committees, spending {1000 * (i + 1):,}.00 EUR of the approved budget.</p>"
        )
        (folder / f"text-{i:03d}.pdf").write_bytes(html_pdf([f"<h1>Report {i}</h1>" + paragraph * 12]))
    return folder


def corpus_files(folder: Path, limit: int | None = None) -> list[Path]:
    labels = [json.loads(line) for line in (folder / "labels.jsonl").read_text().splitlines()]
    files = [folder / item["file"] for item in labels]
    return files[:limit] if limit else files


# -- variants (each runs in its own process) ---------------------------------------------------


def variant_parse(args: argparse.Namespace) -> dict[str, Any]:
    from extractor.config import ParseLimits
    from extractor.parse import parse_file
    from extractor.parse.pool import ParsePool

    out: dict[str, Any] = {}
    for name, files in (
        ("invoice", corpus_files(Path(args.folders["invoice"]))),
        ("customer_email", corpus_files(Path(args.folders["customer_email"]))),
        ("text_pdf", sorted(Path(args.folders["text_pdf"]).glob("*.pdf"))),
    ):
        parse_file(files[0])  # imports and first-use costs out of the timing
        started = time.perf_counter()
        docs = [parse_file(f) for f in files]
        serial = time.perf_counter() - started
        pages = sum(len(d.pages) for d in docs)
        with ParsePool(ParseLimits(), workers=2) as pool:
            list(pool.map(files[:2]))  # workers started and warm (a run pays this once, ~1 s)
            started = time.perf_counter()
            parsed = list(pool.map(files))
            pooled = time.perf_counter() - started
        assert all(p.error is None for p in parsed)
        out[name] = {
            "files": len(files),
            "pages": pages,
            "serial_files_per_s": round(len(files) / serial, 1),
            "serial_pages_per_s": round(pages / serial, 1),
            "pool2_files_per_s": round(len(files) / pooled, 1),
            "pool2_pages_per_s": round(pages / pooled, 1),
        }
    return out


def variant_naive(args: argparse.Namespace) -> dict[str, Any]:
    import outlines
    from outlines.types import JsonSchema
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from extractor.engines.model_store import resolve_model
    from extractor.extract import parse_answer
    from extractor.extract.constraint import generation_schema
    from extractor.extract.prompt import build_prompt
    from extractor.parse import parse_file
    from extractor.schema import load_schema

    source = resolve_model("embedded")
    tokenizer = AutoTokenizer.from_pretrained(str(source.path))
    hf_model = AutoModelForCausalLM.from_pretrained(str(source.path))
    model = outlines.from_transformers(hf_model, tokenizer)
    out: dict[str, Any] = {}
    for schema_name, n in (("invoice", args.naive_docs), ("customer_email", max(args.naive_docs // 2, 1))):
        schema = load_schema(schema_name)
        output_type = JsonSchema(json.dumps(generation_schema(schema)))
        files = corpus_files(Path(args.folders[schema_name]), n)
        started = time.perf_counter()
        generator = outlines.Generator(model, output_type)
        compile_s = time.perf_counter() - started
        tokens, ok, first_row = 0, 0, None
        started = time.perf_counter()
        for f in files:
            doc = parse_file(f)
            prompt = build_prompt(schema, doc.text)
            text = tokenizer.apply_chat_template(list(prompt.messages), tokenize=False, add_generation_prompt=True)
            answer = generator(text, max_new_tokens=MAX_NEW_TOKENS)
            tokens += len(tokenizer(answer, add_special_tokens=False)["input_ids"])
            try:
                parse_answer_text(answer, parse_answer)
                ok += 1
            except Exception:  # an invalid answer is counted, not fatal
                pass
            first_row = first_row or time.perf_counter() - started
        elapsed = time.perf_counter() - started
        out[schema_name] = _rates(len(files), ok, elapsed + compile_s, tokens, first_row + compile_s)
        out[schema_name]["grammar_compile_s"] = round(compile_s, 2)
    return out


def parse_answer_text(text: str, parse_answer: Any) -> None:
    from extractor.types import Generation

    parse_answer(Generation(text=text, prompt_tokens=0, completion_tokens=0, finished=True))


def variant_pipeline(args: argparse.Namespace) -> dict[str, Any]:
    from extractor.config import RunConfig
    from extractor.engines.base import lazy_engine
    from extractor.pipeline import run
    from extractor.schema import load_schema

    started = time.perf_counter()
    engine = lazy_engine(args.engine, "embedded").build()
    load_s = time.perf_counter() - started
    out: dict[str, Any] = {"model_load_s": round(load_s, 2), "engine": type(engine).__name__}
    for schema_name in ("invoice", "customer_email"):
        files = corpus_files(Path(args.folders[schema_name]), args.limit)
        first: list[float] = []
        started = time.perf_counter()

        def on_record(_record: Any, first: list[float] = first, started: float = started) -> None:
            if not first:
                first.append(time.perf_counter() - started)

        config = RunConfig(decoding=args.decoding, max_new_tokens=MAX_NEW_TOKENS)
        result = run(files, load_schema(schema_name), engine, config, on_record=on_record)
        elapsed = time.perf_counter() - started
        tokens = sum(r.provenance.completion_tokens for r in result.records if r.provenance)
        out[schema_name] = _rates(len(files), result.ok, elapsed, tokens, first[0] if first else elapsed)
        out[schema_name]["answers"] = {r.source: r.data for r in result.records}
    return out


def variant_batch(args: argparse.Namespace) -> dict[str, Any]:
    from extractor.engines.base import Constraint
    from extractor.engines.transformers import TransformersEngine
    from extractor.extract.constraint import generation_schema
    from extractor.extract.prompt import build_prompt
    from extractor.parse import parse_file
    from extractor.schema import load_schema

    schema = load_schema("invoice")
    files = corpus_files(Path(args.folders["invoice"]), args.batch_docs)
    prompts = [build_prompt(schema, parse_file(f).text).messages for f in files]
    constraint = Constraint(json_schema=generation_schema(schema))
    out: dict[str, Any] = {}
    engine = TransformersEngine("embedded")
    engine.generate(prompts[:1], [constraint], MAX_NEW_TOKENS)  # grammar compiled, prefix cached
    for size in args.batch_sizes:
        engine.batch_size = size
        some = prompts[: max(2 * size, 4)]  # two batches of each size (batch 1 is slow: 4 documents)
        started = time.perf_counter()
        generations = engine.generate(some, [constraint] * len(some), MAX_NEW_TOKENS)
        elapsed = time.perf_counter() - started
        tokens = sum(g.completion_tokens for g in generations)
        out[str(size)] = {
            "docs": len(some),
            "seconds": round(elapsed, 2),
            "tokens_per_s": round(tokens / elapsed, 1),
            "docs_per_min": round(60 * len(some) / elapsed, 1),
            "forward_passes_per_token": round(sum(g.forward_passes for g in generations) / tokens, 3),
        }
    if args.llamacpp:
        from extractor.engines.llamacpp import LlamaCppEngine

        llama = LlamaCppEngine("embedded")
        llama.generate(prompts[:1], [constraint], MAX_NEW_TOKENS)
        some = prompts[:8]
        started = time.perf_counter()
        generations = llama.generate(some, [constraint] * len(some), MAX_NEW_TOKENS)
        elapsed = time.perf_counter() - started
        tokens = sum(g.completion_tokens for g in generations)
        out["llamacpp"] = {
            "docs": len(some),
            "seconds": round(elapsed, 2),
            "tokens_per_s": round(tokens / elapsed, 1),
            "docs_per_min": round(60 * len(some) / elapsed, 1),
        }
    return out


def variant_constraint(args: argparse.Namespace) -> dict[str, Any]:
    from extractor.engines.base import Constraint
    from extractor.engines.transformers import TransformersEngine
    from extractor.extract.constraint import generation_schema
    from extractor.extract.prompt import build_prompt
    from extractor.parse import parse_file
    from extractor.schema import load_schema

    schema = load_schema("invoice")
    files = corpus_files(Path(args.folders["invoice"]), args.constraint_docs)
    prompts = [build_prompt(schema, parse_file(f).text).messages for f in files]
    constraint = Constraint(json_schema=generation_schema(schema))
    engine = TransformersEngine("embedded", batch_size=1)
    engine.generate(prompts[:1], [constraint], MAX_NEW_TOKENS)  # warm: grammar, prefix cache
    timings: dict[str, float] = {"jump_forward": 0.0, "no_jump_forward": 0.0, "unconstrained_same_length": 0.0}
    tokens = passes = 0
    identical = 0
    for prompt in prompts:
        engine._decoder.jump_forward = True
        started = time.perf_counter()
        (fast,) = engine.generate([prompt], [constraint], MAX_NEW_TOKENS)
        timings["jump_forward"] += time.perf_counter() - started
        engine._decoder.jump_forward = False
        started = time.perf_counter()
        (slow,) = engine.generate([prompt], [constraint], MAX_NEW_TOKENS)
        timings["no_jump_forward"] += time.perf_counter() - started
        identical += fast.text == slow.text
        # Unconstrained, end-of-sequence never stops it: exactly as many tokens as the constrained answer.
        eos, engine._decoder.eos_token_id = engine._decoder.eos_token_id, -1
        started = time.perf_counter()
        engine.generate([prompt], [None], slow.completion_tokens)
        timings["unconstrained_same_length"] += time.perf_counter() - started
        engine._decoder.eos_token_id = eos
        tokens += slow.completion_tokens
        passes += fast.forward_passes
    engine._decoder.jump_forward = True
    return {
        "docs": len(prompts),
        "answer_tokens": tokens,
        "forward_passes_with_jump_forward": passes,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "same_answer_with_and_without_jump_forward": identical,
    }


def variant_memory(args: argparse.Namespace) -> dict[str, Any]:
    import tempfile

    from extractor.config import RunConfig
    from extractor.engines.fake import FakeEngine
    from extractor.pipeline import run_incremental
    from extractor.schema import load_schema

    files = corpus_files(Path(args.folders["memory"]), args.limit)
    answer = '{"invoice_number": "X", "total": "1.00", "currency": "EUR"}'
    engine = FakeEngine(respond=lambda p: answer)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = run_incremental(files, out, load_schema("invoice"), engine, RunConfig(decoding="json"))
        elapsed = time.perf_counter() - started
    return {"docs": len(files), "seconds": round(elapsed, 2), "ok": result.ok, "failed": result.failed}


VARIANTS = {
    **throughput_real.VARIANTS,
    "parse": variant_parse,
    "naive": variant_naive,
    "pipeline": variant_pipeline,
    "batch": variant_batch,
    "constraint": variant_constraint,
    "memory": variant_memory,
}


def _rates(docs: int, ok: int, seconds: float, tokens: int, first_row_s: float) -> dict[str, Any]:
    return {
        "docs": docs,
        "ok": ok,
        "seconds": round(seconds, 2),
        "docs_per_min": round(60 * docs / seconds, 2),
        "tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1),
        "time_to_first_row_s": round(first_row_s, 2),
    }


# -- report ----------------------------------------------------------------------------------


def report(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        "# Throughput",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, torch {m['torch']}, "
        f"GPU: {m['gpu'] or 'none'}.",
        f"Corpus: {r['corpus']['invoices']} generated invoices, {r['corpus']['emails']} customer emails "
        f"(seed 7); model: embedded SmolLM2-135M-Instruct, no adapter; answer budget "
        f"{r['corpus']['max_new_tokens']} tokens. Reproduce: `.venv/bin/python bench/throughput.py`.",
        "Compare figures as ratios, within one run (`--only` reruns some variants: the last section says when "
        "each ran). Peak RSS is the variant's whole process.",
        "",
        "## End to end",
        "",
        "| variant | schema | docs | ok | docs/min | answer tokens/s | first row (s) | peak RSS (MiB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    engine_names = {"LlamaCppEngine": "llama.cpp", "TransformersEngine": "transformers"}
    shipped_engine = engine_names.get(r.get("shipped", {}).get("engine", ""), "?")
    names = {
        "naive": "naive loop (outlines, one at a time, JSON)",
        "shipped": f"pipeline as shipped (engine auto: {shipped_engine}, grounded)",
        "transformers": "pipeline, transformers engine, grounded",
        "transformers_json": "pipeline, transformers engine, JSON",
    }
    for key, name in names.items():
        if key not in r:
            continue
        for schema in ("invoice", "customer_email"):
            v = r[key][schema]
            lines.append(
                f"| {name} | {schema} | {v['docs']} | {v['ok']} | {v['docs_per_min']} | {v['tokens_per_s']} | "
                f"{v['time_to_first_row_s']} | {r[key]['process']['peak_rss_mib']} |"
            )
    if "naive" in r and "shipped" in r:
        lines += ["", "Speed-up over the naive loop (documents per minute):", ""]
        for key in names:
            if key in r and key != "naive":
                ratios = ", ".join(
                    f"{s} {r[key][s]['docs_per_min'] / r['naive'][s]['docs_per_min']:.1f}x"
                    for s in ("invoice", "customer_email")
                )
                lines.append(f"- {names[key]}: {ratios}")
        compile_s = ", ".join(f"{s} {r['naive'][s]['grammar_compile_s']} s" for s in ("invoice", "customer_email"))
        lines.append(f"- the naive loop's grammar compile time (included above): {compile_s}")
    if "shipped" in r and "transformers" in r:
        lines += ["", _agreement(r)]
    if "batch" in r:
        lines += ["", "## Decode throughput by batch size (transformers engine, invoices, JSON constraint)", ""]
        lines += ["| batch size | docs | docs/min | answer tokens/s | forward passes per answer token |"]
        lines += ["|---:|---:|---:|---:|---:|"]
        for size, v in r["batch"].items():
            if size in ("process", "llamacpp"):
                continue
            passes = v["forward_passes_per_token"]
            lines.append(f"| {size} | {v['docs']} | {v['docs_per_min']} | {v['tokens_per_s']} | {passes} |")
        if "llamacpp" in r["batch"]:
            v = r["batch"]["llamacpp"]
            lines.append(
                f"| llama.cpp (1, its only size) | {v['docs']} | {v['docs_per_min']} | {v['tokens_per_s']} | |"
            )
    if "constraint" in r:
        c = r["constraint"]
        s = c["seconds"]
        lines += [
            "",
            "## Constraint cost (one invoice at a time)",
            "",
            f"{c['docs']} invoices, {c['answer_tokens']} answer tokens in all; with jump-forward "
            f"{c['forward_passes_with_jump_forward']} forward passes.",
            "",
            "| decoding | seconds |",
            "|---|---:|",
            f"| constrained, jump-forward (shipped) | {s['jump_forward']} |",
            f"| constrained, no jump-forward | {s['no_jump_forward']} |",
            f"| unconstrained, same number of tokens | {s['unconstrained_same_length']} |",
            "",
            "Same answer with and without jump-forward: "
            f"{c['same_answer_with_and_without_jump_forward']} of {c['docs']}.",
        ]
    if "parse" in r:
        lines += ["", "## Parsing", "", "| corpus | files | pages | files/s (pages/s), 1 process | pool of 2 |"]
        lines += ["|---|---:|---:|---:|---:|"]
        for name, v in r["parse"].items():
            if name == "process":
                continue
            lines.append(
                f"| {name} | {v['files']} | {v['pages']} | {v['serial_files_per_s']} ({v['serial_pages_per_s']}) | "
                f"{v['pool2_files_per_s']} ({v['pool2_pages_per_s']}) |"
            )
    if "memory_small" in r and "memory_large" in r:
        a, b = r["memory_small"], r["memory_large"]
        lines += [
            "",
            "## Memory as the corpus grows (nightly path, stand-in engine)",
            "",
            "| documents | seconds | peak RSS (MiB) |",
            "|---:|---:|---:|",
            f"| {a['docs']} | {a['seconds']} | {a['process']['peak_rss_mib']} |",
            f"| {b['docs']} | {b['seconds']} | {b['process']['peak_rss_mib']} |",
        ]
    ran = [(k, v["process"].get("finished_at", "?")) for k, v in r.items() if isinstance(v, dict) and "process" in v]
    lines += ["", *throughput_real.report(r)]
    lines += ["", "## When each variant ran", ""] + [f"- {k}: {when}" for k, when in ran]
    return "\n".join(lines) + "\n"


def _agreement(r: dict[str, Any]) -> str:
    """How often the shipped engine's row equals the transformers engine's, over the documents both read."""
    same = total = fields = same_fields = 0
    for schema in ("invoice", "customer_email"):
        # Keyed by the path inside the corpus: variants may have run from different checkouts.
        a, b = (
            {k.rsplit("bench-throughput/", 1)[-1]: v for k, v in r[key][schema]["answers"].items()}
            for key in ("transformers", "shipped")
        )
        for k in a.keys() & b.keys():
            total += 1
            same += a[k] == b[k]
            if a[k] is not None and b[k] is not None:
                fields += len(a[k])
                same_fields += sum(a[k].get(f) == b[k].get(f) for f in a[k])
    return (
        f"Agreement: the shipped pipeline's row equals the transformers engine's for {same} of the {total} "
        f"documents both read ({same_fields} of {fields} field values equal)."
    )


# -- driver ------------------------------------------------------------------------------------


def measured(variant: str, folders: dict[str, Path], **options: Any) -> dict[str, Any]:
    """Run one variant in a fresh process; its result, wall time and peak RSS."""
    spec = {"variant": variant, "folders": {k: str(v) for k, v in folders.items()}, **options}
    argv = [sys.executable, __file__, "--child", json.dumps(spec)]
    print(f"-- {variant} {options}", flush=True)
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out_path, err_path = logs / f"{variant}.out", logs / f"{variant}.err"
    started = time.perf_counter()
    # Files, not pipes: wait4() must not wait on a child blocked writing to a full pipe.
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=err, text=True)
        _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{variant} failed:\n{err_path.read_text()[-4000:]}")
    result = json.loads(out_path.read_text().strip().splitlines()[-1])
    result["process"] = {
        "wall_s": round(wall, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "finished_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "answers"}, default=str)[:600], flush=True)
    return result


def child(spec: dict[str, Any]) -> None:
    args = argparse.Namespace(**spec)
    result = VARIANTS[spec["variant"]](args)
    print(json.dumps(result, default=str))


def machine() -> dict[str, Any]:
    import torch

    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in lines if "model name" in line), platform.processor())
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="20 invoices, 10 emails, 200 for memory")
    parser.add_argument("--only", nargs="*", default=None, help="run only these result keys")
    parser.add_argument("--real", action="store_true", help="only the real-document variants (throughput_real.py)")
    options = parser.parse_args()
    if options.child:
        child(json.loads(options.child))
        return
    if options.real:
        from extractor.engines.model_store import resolve_model

        try:
            have_qwen = resolve_model("qwen2.5-coder-1.5b").gguf is not None
        except Exception:  # not pulled
            have_qwen = False
        real = throughput_real.plan(have_qwen)
        options.only = options.only or list(real)  # --only narrows them
    invoices, emails, memory = (20, 10, 200) if options.quick else (100, 50, 1000)
    folders = make_corpus(invoices, emails, memory)
    try:
        import llama_cpp  # noqa: F401

        have_llamacpp = True
    except ImportError:
        have_llamacpp = False
    plan: dict[str, tuple[str, dict[str, Any]]] = {
        "parse": ("parse", {}),
        "naive": ("naive", {"naive_docs": 4 if options.quick else 16}),
        "shipped": ("pipeline", {"engine": "auto", "decoding": "grounded", "limit": None}),
        "transformers": ("pipeline", {"engine": "transformers", "decoding": "grounded", "limit": None}),
        "transformers_json": ("pipeline", {"engine": "transformers", "decoding": "json", "limit": 30}),
        "batch": (
            "batch",
            {
                "batch_docs": 8 if options.quick else 32,
                "batch_sizes": [1, 4] if options.quick else [1, 4, 8, 16, 32],
                "llamacpp": have_llamacpp,
            },
        ),
        "constraint": ("constraint", {"constraint_docs": 3 if options.quick else 4}),
        "memory_small": ("memory", {"limit": memory // 10}),
        "memory_large": ("memory", {"limit": None}),
        **(throughput_real.plan(True) if options.real else {}),
    }
    out_file = RESULTS / ("results-quick.json" if options.quick else "results.json")
    results: dict[str, Any] = json.loads(out_file.read_text()) if out_file.is_file() and options.only else {}
    results["machine"] = machine()
    results["corpus"] = {"invoices": invoices, "emails": emails, "memory": memory, "max_new_tokens": MAX_NEW_TOKENS}
    for key, (variant, opts) in plan.items():
        if options.only and key not in options.only:
            continue
        results[key] = measured(variant, folders, **opts)
        RESULTS.mkdir(parents=True, exist_ok=True)
        out_file.write_text(json.dumps(results, indent=1, default=str) + "\n")
    out_file.with_suffix(".md").write_text(report(results))
    print(f"wrote {out_file} and {out_file.with_suffix('.md')}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
