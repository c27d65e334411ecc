"""Grammar backends for the JSON-Schema constraint: llguidance (shipped), outlines-core, xgrammar.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/pip install --no-deps xgrammar apache-tvm-ffi
    .venv/bin/python bench/grammar_backends.py     -> bench/results/grammar_backends.{json,md}

For each shipped schema's generation constraint (closed objects, bounded strings, numbers as
bounded strings: `extractor/extract/constraint.py`) and the embedded model's 49k-token vocabulary:
- compile: schema -> ready matcher (outlines-core: regex + index; xgrammar: compiled grammar +
  matcher; llguidance: grammar + matcher), first compile in the process (no cache);
- per token: fill the allowed-token bitmask and consume the token, averaged over the tokens of
  a valid answer (the sample label of that schema, as compact JSON);
- invented keys: for an object schema that does not say `additionalProperties: false` (what a plain
  Pydantic model gives), does the backend let the answer add a key the schema does not name after
  the declared ones? JSON Schema allows extra keys unless forbidden, so a faithful backend says yes:
  the reason the shipped constraint always closes objects.
xgrammar needs `apache-tvm-ffi` besides itself (installed with --no-deps: its triton requirement
is for GPUs); a backend that is not installed is reported as such.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SCHEMAS = ("invoice", "customer_email", "project_report")


def answers() -> dict[str, str]:
    """A valid compact answer per schema: the first sample label, shaped like the constraint."""
    from extractor.extract.constraint import generation_schema
    from extractor.schema import load_schema

    out = {}
    labels = [json.loads(line) for line in (ROOT / "data" / "samples" / "labels.jsonl").read_text().splitlines()]
    for name in SCHEMAS:
        fields = next(item["fields"] for item in labels if item["schema"] == name)
        schema = generation_schema(load_schema(name))
        out[name] = json.dumps(_shaped(fields, schema), separators=(", ", ": "), ensure_ascii=False)
    return out


def _shaped(value: Any, schema: dict[str, Any]) -> Any:
    options = schema.get("anyOf", [schema])
    base = next(o for o in options if o.get("type") != "null")
    if value is None:
        # A list the label leaves empty is [] in an answer (the constraint's lists are not nullable).
        return [] if base.get("type") == "array" and len(options) == 1 else None
    if base.get("type") == "object":
        return {k: _shaped(value.get(k), s) for k, s in base["properties"].items()}
    if base.get("type") == "array":
        return [_shaped(v, base["items"]) for v in value]
    if base.get("type") == "string":
        return str(value)
    return value


class Llguidance:
    name = "llguidance"

    def __init__(self, tokenizer: Any):
        import llguidance.hf

        self.ll = llguidance.hf.from_tokenizer(tokenizer)

    def compile(self, schema: dict[str, Any]) -> Any:
        import llguidance

        from extractor.engines.transformers import _JSON_LAYOUT

        grammar = llguidance.LLMatcher.grammar_from_json_schema({**schema, "x-guidance": _JSON_LAYOUT})
        return llguidance.LLMatcher(self.ll, grammar, log_level=0)

    def step(self, matcher: Any, bitmask: Any, token: int) -> bool:
        import llguidance.torch

        llguidance.torch.fill_next_token_bitmask(matcher, bitmask, 0)
        return bool(matcher.consume_token(token))

    def bitmask(self) -> Any:
        import llguidance.torch

        return llguidance.torch.allocate_token_bitmask(1, self.ll.vocab_size)


class OutlinesCore:
    name = "outlines-core"

    def __init__(self, tokenizer: Any):
        from outlines.backends.outlines_core import OutlinesCoreBackend
        from outlines.models.transformers import TransformerTokenizer

        wrapped = TransformerTokenizer(tokenizer)
        self.vocabulary = OutlinesCoreBackend.create_outlines_core_vocabulary(
            wrapped.get_vocab(), tokenizer.eos_token_id, tokenizer.eos_token, wrapped.convert_token_to_string
        )
        self.vocab_size = len(tokenizer)

    def compile(self, schema: dict[str, Any]) -> Any:
        from outlines_core import Guide, Index
        from outlines_core.json_schema import build_regex_from_schema

        return Guide(Index(build_regex_from_schema(json.dumps(schema)), self.vocabulary))

    def step(self, guide: Any, bitmask: Any, token: int) -> bool:
        from outlines_core.kernels.torch import fill_next_token_bitmask

        fill_next_token_bitmask(guide, bitmask)
        try:
            guide.advance(token)
        except ValueError:
            return False
        return True

    def bitmask(self) -> Any:
        from outlines_core.kernels.torch import allocate_token_bitmask

        return allocate_token_bitmask(self.vocab_size)


class Xgrammar:
    name = "xgrammar"

    def __init__(self, tokenizer: Any):
        import xgrammar as xgr

        self.info = xgr.TokenizerInfo.from_huggingface(tokenizer)

    def compile(self, schema: dict[str, Any]) -> Any:
        import xgrammar as xgr

        compiler = xgr.GrammarCompiler(self.info, cache_enabled=False)
        return xgr.GrammarMatcher(compiler.compile_json_schema(json.dumps(schema), any_whitespace=False))

    def step(self, matcher: Any, bitmask: Any, token: int) -> bool:
        matcher.fill_next_token_bitmask(bitmask)
        return bool(matcher.accept_token(token))

    def bitmask(self) -> Any:
        import xgrammar as xgr

        return xgr.allocate_token_bitmask(1, self.info.vocab_size)


def measure(backend: Any, tokenizer: Any, schema: dict[str, Any], answer: str) -> dict[str, Any]:
    started = time.perf_counter()
    matcher = backend.compile(schema)
    compile_s = time.perf_counter() - started
    ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    bitmask = backend.bitmask()
    started = time.perf_counter()
    accepted = 0
    for token in ids:
        if not backend.step(matcher, bitmask, token):
            break
        accepted += 1
    per_token = (time.perf_counter() - started) / max(accepted, 1)
    # Invented keys: a one-property object schema without additionalProperties, and an answer with its
    # property followed by one it does not name (backends write declared properties first, in order).
    invented = backend.compile({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]})
    probe = tokenizer('{"a": "x", "made_up_key": "1"}', add_special_tokens=False)["input_ids"]
    extra_ok = all(backend.step(invented, bitmask, t) for t in probe)
    return {
        "compile_s": round(compile_s, 3),
        "answer_tokens": len(ids),
        "accepted_tokens": accepted,
        "per_token_ms": round(1000 * per_token, 3),
        "open_schema_allows_invented_key": extra_ok,
    }


def main() -> None:
    from transformers import AutoTokenizer

    from extractor.engines.model_store import resolve_model
    from extractor.extract.constraint import generation_schema
    from extractor.schema import load_schema

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model("embedded").path))
    results: dict[str, Any] = {}
    texts = answers()
    for cls in (Llguidance, OutlinesCore, Xgrammar):
        try:
            backend = cls(tokenizer)
        except ImportError as exc:
            results[cls.name] = {"not installed": str(exc)}
            continue
        results[cls.name] = {}
        for name in SCHEMAS:
            schema = generation_schema(load_schema(name))
            results[cls.name][name] = measure(backend, tokenizer, schema, texts[name])
            print(cls.name, name, results[cls.name][name], flush=True)
    (RESULTS / "grammar_backends.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [
        "# Grammar backends (JSON-Schema constraint, SmolLM2 vocabulary)",
        "",
        "`.venv/bin/python bench/grammar_backends.py`; one process, first compile (no cache).",
        "",
        "| backend | schema | compile (s) | mask + consume per token (ms) | answer tokens accepted | "
        "open schema lets the model invent a key |",
        "|---|---|---:|---:|---:|---|",
    ]
    for backend, by_schema in results.items():
        for name, r in by_schema.items():
            if not isinstance(r, dict):
                lines.append(f"| {backend} | not installed: {r} | | | | |")
                continue
            invents = "yes" if r["open_schema_allows_invented_key"] else "no"
            lines.append(
                f"| {backend} | {name} | {r['compile_s']} | {r['per_token_ms']} | "
                f"{r['accepted_tokens']} of {r['answer_tokens']} | {invents} |"
            )
    (RESULTS / "grammar_backends.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
