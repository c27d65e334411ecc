"""Time to build and compile a grounded-decoding grammar, per document, as documents grow.

    .venv/bin/python bench/grammar_compile.py     -> bench/results/grammar_compile.json

Uses the embedded model's tokenizer (what llguidance compiles against) and generated project
reports of 1 to 20 pages; each figure is the median of 5 builds (Lark text + llguidance matcher).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import llguidance
import llguidance.hf
from transformers import AutoTokenizer

from extractor.engines.model_store import resolve_model
from extractor.extract.grammar import grounded_grammar
from extractor.parse import parse_bytes
from extractor.schema import load_schema
from extractor.synth.render import html_pdf

PARAGRAPH = (
    "<p>In the second quarter the WaterBridge Foundation and Aqua Partners Kenya drilled 14 wells "
    "in Kisumu and Homa Bay, spending 182,400.00 USD of the 1,250,000.00 USD budget. Training for "
    "42 school committees started on 3 April 2023 and ends on 30 June 2024.</p>"
)


def main() -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model(None).path))
    ll_tokenizer = llguidance.hf.from_tokenizer(tokenizer)
    results = []
    for pages in (1, 5, 10, 20):
        doc = parse_bytes(html_pdf([PARAGRAPH * 9] * pages), "bench.pdf", "pdf")
        for schema_name in ("invoice", "project_report"):
            schema = load_schema(schema_name)
            times = []
            for _ in range(5):
                start = time.perf_counter()
                lark = grounded_grammar(schema, doc.text)
                matcher = llguidance.LLMatcher(ll_tokenizer, llguidance.LLMatcher.grammar_from_lark(lark))
                times.append(time.perf_counter() - start)
                assert not matcher.is_error(), matcher.get_error()
            results.append(
                {
                    "pages": len(doc.pages),
                    "characters": len(doc.text),
                    "schema": schema_name,
                    "median_ms": round(1000 * statistics.median(times), 1),
                }
            )
            print(results[-1])
    out = Path(__file__).parent / "results" / "grammar_compile.json"
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
