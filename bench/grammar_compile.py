"""Grounded-grammar compile time and memory against document length, on real documents, for several
tokenizer vocabularies; the current grammar against the one it replaced.

    .venv/bin/python bench/grammar_compile.py [--docs 60] [--before REV]
        -> bench/results/grammar_compile.json, bench/results/grammar_compile.md

Documents: the real corpus (data/real/, built by `python data/real/build_corpus.py --ensure`),
PDFs and e-mails with a text layer, read as the pipeline reads them. For every document and shipped
schema, each part the pipeline would send (default prompt budget) gets its grammar built and compiled
by llguidance, exactly as the engines do (engines/constraints.py); so does one grammar over the whole
text, cut at 1k, 2k, 4k, 8k, 16k and 32k characters, to show the cost against text length beyond the
budget. "before" is extract/grammar.py at REV (default: the last commit before the bounded design).

Vocabularies: the embedded model's (SmolLM2, 49k tokens), and where llama-cpp-python's source
distribution can be had from PyPI (`pip download`, cached under ~/.cache/extractor/vocab), the
vocabulary-only GGUFs it ships for Llama 3 (128k), Qwen2 (151k), Phi-3 (32k) and Gemma (262k). Each
vocabulary runs in its own process, whose peak RSS is reported.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
VOCAB_CACHE = Path.home() / ".cache" / "extractor" / "vocab"
GGUF_VOCABS = {"llama3": "llama-bpe", "qwen2": "qwen2", "phi3": "phi-3", "gemma": "gemma-4"}
LENGTHS = (1000, 2000, 4000, 8000, 16000, 32000)
SCHEMAS = ("invoice", "customer_email", "project_report")
BEFORE = "b0111ed"  # extract/grammar.py before compile cost was bounded by design


def vocab_files() -> dict[str, Path]:
    """Vocabulary-only GGUFs from llama-cpp-python's sdist (PyPI), extracted once."""
    import llama_cpp

    VOCAB_CACHE.mkdir(parents=True, exist_ok=True)
    wanted = {name: VOCAB_CACHE / f"ggml-vocab-{stem}.gguf" for name, stem in GGUF_VOCABS.items()}
    if not all(p.exists() for p in wanted.values()):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
             f"llama-cpp-python=={llama_cpp.__version__}", "-d", str(VOCAB_CACHE)],
            check=False,
        )  # fmt: skip
        for sdist in VOCAB_CACHE.glob("llama_cpp_python-*.tar.gz"):
            with tarfile.open(sdist) as tar:
                for member in tar.getmembers():
                    name = Path(member.name).name
                    if name in {p.name for p in wanted.values()}:
                        (VOCAB_CACHE / name).write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
    return {name: path for name, path in wanted.items() if path.exists()}


def load_grammar_module(rev: str | None):  # type: ignore[no-untyped-def]
    if rev is None:
        from extractor.extract import grammar

        return grammar
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:extractor/extract/grammar.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"grammar_{rev}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"grammar_{rev}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def documents(limit: int) -> list:  # type: ignore[type-arg]
    from extractor.config import ParseLimits
    from extractor.errors import InputError
    from extractor.parse import parse_file
    from tests.real_corpus import corpus_files

    docs = []
    paths = sorted(corpus_files("pdf"), key=lambda p: p.stat().st_size if p.exists() else 0, reverse=True)
    paths = paths[: limit // 2] + corpus_files("email")[: limit - limit // 2]
    for path in paths:
        try:
            docs.append(parse_file(path, ParseLimits(ocr=False)))
        except (InputError, OSError):
            continue
    return docs


def measure(vocab: str, docs_limit: int, before: str) -> dict:  # type: ignore[type-arg]
    """In this process: every grammar of every document, compiled against one vocabulary."""
    import resource

    import llguidance

    from extractor.config import RunConfig
    from extractor.engines.constraints import MatcherFactory
    from extractor.engines.fake import FakeEngine
    from extractor.errors import GenerationFailed
    from extractor.extract import document_budget
    from extractor.extract.chunks import split
    from extractor.schema import load_schema

    if vocab == "smollm2":
        import llguidance.hf
        from transformers import AutoTokenizer

        from extractor.engines.model_store import resolve_model

        tokenizer = AutoTokenizer.from_pretrained(str(resolve_model(None).path))
        ll_tokenizer = llguidance.hf.from_tokenizer(tokenizer)

        def count(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])
    else:
        import llama_cpp
        import llguidance.llamacpp

        model = llama_cpp.Llama(str(vocab_files()[vocab]), vocab_only=True, verbose=False)
        ll_tokenizer = llguidance.llamacpp.lltokenizer_from_vocab(model._model.vocab)

        def count(text: str) -> int:
            return len(model.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    factory = MatcherFactory(ll_tokenizer)
    grammars = {"after": load_grammar_module(None), "before": load_grammar_module(before)}
    docs = documents(docs_limit)
    # Parts as the pipeline cuts them: an engine stand-in that counts this vocabulary's tokens.
    splitter = FakeEngine(max_context_tokens=8192)
    splitter.count_tokens = count  # type: ignore[method-assign]
    splitter.truncate = lambda text, n: _truncate(text, n, count)  # type: ignore[method-assign]
    # Untimed: the first text with a date-like span that is none ("Telephone 02 8063") has dateparser
    # load every language's data (~1 s, once a process).
    warm = "5 May 2024, Telephone 02 8063"
    for module in grammars.values():
        factory.matcher(
            str(llguidance.LLMatcher.grammar_from_lark(module.grounded_grammar(load_schema("invoice"), warm)))
        )
    rows: list[dict] = []  # type: ignore[type-arg]
    for doc in docs:
        pages = max(1, len(doc.pages))
        for schema_name in SCHEMAS:
            schema = load_schema(schema_name)
            budget = document_budget(splitter, schema, RunConfig())
            parts = split(doc, splitter, budget, 128, 64)
            texts = [("part", doc.text[c.start : c.end]) for c in parts]
            texts += [(f"cut{n}", doc.text[:n]) for n in LENGTHS if n <= len(doc.text) + 999]
            for which, module in grammars.items():
                for kind, text in texts:
                    started = time.perf_counter()
                    error = ""
                    try:
                        factory.matcher(
                            str(llguidance.LLMatcher.grammar_from_lark(module.grounded_grammar(schema, text)))
                        )
                    except (GenerationFailed, ValueError) as exc:
                        error = str(exc)[:120]
                    rows.append(
                        {"doc": doc.source, "pages": pages, "schema": schema_name, "grammar": which, "kind": kind,
                         "chars": len(text), "s": time.perf_counter() - started, "error": error}
                    )  # fmt: skip
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"vocab": vocab, "vocab_size": ll_tokenizer.vocab_size, "peak_rss_mb": round(peak_mb), "rows": rows}


def _truncate(text: str, max_tokens: int, count) -> str:  # type: ignore[no-untyped-def]
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits: binary search on characters
        mid = (low + high + 1) // 2
        if count(text[:mid]) <= max_tokens:
            low = mid
        else:
            high = mid - 1
    return text[:low]


def summarise(results: list[dict]) -> tuple[list[dict], str]:  # type: ignore[type-arg]
    table = []
    for result in results:
        rows = result["rows"]
        for which in ("before", "after"):
            for kind, label in [
                ("part", "parts (default budget)"),
                *[(f"cut{n}", f"first {n} chars") for n in LENGTHS],
            ]:
                chosen = [r for r in rows if r["grammar"] == which and r["kind"] == kind]
                if not chosen:
                    continue
                ok = sorted(r["s"] for r in chosen if not r["error"])
                table.append(
                    {"vocab": result["vocab"], "grammar": which, "texts": label, "n": len(chosen),
                     "failed": sum(bool(r["error"]) for r in chosen),
                     "p50_ms": round(1000 * statistics.median(ok), 1) if ok else None,
                     "p99_ms": round(1000 * ok[min(len(ok) - 1, int(0.99 * len(ok)))], 1) if ok else None,
                     "max_ms": round(1000 * ok[-1], 1) if ok else None,
                     "peak_rss_mb": result["peak_rss_mb"]}
                )  # fmt: skip
    lines = ["| vocabulary | grammar | texts | n | failed | p50 ms | p99 ms | max ms | peak RSS MB |", "|" + "---|" * 9]
    lines += [
        f"| {t['vocab']} | {t['grammar']} | {t['texts']} | {t['n']} | {t['failed']} | {t['p50_ms']} | {t['p99_ms']} "
        f"| {t['max_ms']} | {t['peak_rss_mb']} |"
        for t in table
    ]
    by_pages = ["", "Per document (all its parts, after), SmolLM2 vocabulary:", "",
                "| pages | documents | parts p50 | total ms p50 | total ms max |", "|---|---|---|---|---|"]  # fmt: skip
    smol = next((r for r in results if r["vocab"] == "smollm2"), None)
    if smol:
        totals: dict[tuple[str, str], list[float]] = {}
        pages_of: dict[str, int] = {}
        for r in smol["rows"]:
            if r["grammar"] == "after" and r["kind"] == "part":
                totals.setdefault((r["doc"], r["schema"]), []).append(r["s"])
                pages_of[r["doc"]] = r["pages"]
        for low, high in ((1, 1), (2, 9), (10, 49), (50, 10_000)):
            docs = [(k, v) for k, v in totals.items() if low <= pages_of[k[0]] <= high]
            if docs:
                sums = sorted(sum(v) for _, v in docs)
                by_pages.append(
                    f"| {low}-{high if high < 10_000 else '…'} | {len({k[0] for k, _ in docs})} "
                    f"| {statistics.median(len(v) for _, v in docs):g} | {1000 * statistics.median(sums):.0f} "
                    f"| {1000 * sums[-1]:.0f} |"
                )
    return table, "\n".join(lines + by_pages) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=60, help="real documents to use (half PDFs, half e-mails)")
    parser.add_argument("--before", default=BEFORE, help="git revision of the grammar to compare with")
    parser.add_argument("--vocab", help=argparse.SUPPRESS)  # internal: measure one vocabulary in this process
    args = parser.parse_args()
    if args.vocab:
        print(json.dumps(measure(args.vocab, args.docs, args.before)))
        return
    results = []
    for vocab in ["smollm2", *vocab_files()]:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--vocab", vocab, "--docs", str(args.docs), "--before", args.before],
            capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        if done.returncode != 0:
            print(f"{vocab}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"{vocab}: {len(results[-1]['rows'])} grammars in {time.perf_counter() - started:.0f} s", flush=True)
    table, markdown = summarise(results)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout
    header = (
        f"# Grounded grammar compile time\n\n{time.strftime('%Y-%m-%d')}, commit {commit.strip()}, "
        f"`python bench/grammar_compile.py --docs {args.docs}`; 'before' is extract/grammar.py at {args.before}.\n\n"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "grammar_compile.md").write_text(header + markdown)
    (RESULTS / "grammar_compile.json").write_text(json.dumps(table, indent=2) + "\n")
    errors = sorted({r["error"] for res in results for r in res["rows"] if r["error"] and r["grammar"] == "after"})
    if errors:
        (RESULTS / "grammar_compile_errors.txt").write_text("\n".join(errors) + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
