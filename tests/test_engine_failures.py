"""One document can never stop the batch: a grounded grammar that cannot be compiled falls back to
the JSON Schema for that document alone (its row says so, the run counts it), and an engine that
fails on one document's prompt gives that document an error row at stage `extract` while the
others go on — on the transformers engine, on llama.cpp, and through the Ray runner (test_ray.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from extractor.config import RunConfig
from extractor.errors import GenerationFailed
from extractor.extract import is_fallback
from extractor.pipeline import run
from extractor.schema import load_schema
from extractor.types import Status

SMALL = f"{Path(__file__).parent / 'small_schema.py'}:Small"
BREAKS_GRAMMAR = "GRAMMARBREAKSHERE"  # one word: one chunk of the grammar's substring list
BREAKS_ENGINE = "ENGINEFAILSHERE"


def three_documents(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a-good.txt").write_text("Reference R-100, amount 12.50, paid on 2024-03-01.")
    (folder / "b-grammar.txt").write_text(f"Reference R-200 {BREAKS_GRAMMAR}, amount 3.10.")
    (folder / "c-engine.txt").write_text(f"Reference R-300 {BREAKS_ENGINE}, amount 7.00.")
    return folder


def break_grammars_of_marked_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    """A grounded grammar llguidance refuses, for the documents that carry the marker."""
    import importlib

    extract = importlib.import_module("extractor.extract.batch")  # where extract_batch looks it up
    real = extract.grounded_grammar

    def grammar(schema, text):  # type: ignore[no-untyped-def]
        return "start: no_such_rule\n" if BREAKS_GRAMMAR in text else real(schema, text)

    monkeypatch.setattr(extract, "grounded_grammar", grammar)


def assert_the_batch_completed(records) -> None:  # type: ignore[no-untyped-def]
    by_name = {Path(r.source).name: r for r in records}
    assert sorted(by_name) == ["a-good.txt", "b-grammar.txt", "c-engine.txt"]
    good, fallback, failed = by_name["a-good.txt"], by_name["b-grammar.txt"], by_name["c-engine.txt"]
    assert good.provenance.decoding == "grounded"
    assert fallback.provenance is not None and is_fallback(fallback.provenance.decoding)
    assert "does not compile" in fallback.provenance.decoding
    # decoded under the JSON Schema, the row is an ordinary row (or a validation failure of its own)
    assert fallback.ok or fallback.error.stage.value == "validate", fallback.error
    assert failed.status is Status.FAILED and failed.error is not None
    assert (failed.error.stage.value, failed.error.type) == ("extract", "GenerationFailed")


def test_transformers_engine(tmp_path: Path, tiny_engine, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    break_grammars_of_marked_documents(monkeypatch)
    decoder = tiny_engine._decoder
    real_decode = decoder.decode

    def decode(prompts, grammars, max_new_tokens):  # type: ignore[no-untyped-def]
        if any(BREAKS_ENGINE in tiny_engine.tokenizer.decode(p) for p in prompts):
            raise GenerationFailed("the device gave up on this prompt")
        return real_decode(prompts, grammars, max_new_tokens)

    monkeypatch.setattr(decoder, "decode", decode)
    folder = three_documents(tmp_path / "in")
    config = RunConfig(parse_workers=0, max_new_tokens=300, batch_size=8)
    result = run([folder], load_schema(SMALL), tiny_engine, config)
    assert_the_batch_completed(result.records)
    assert result.fallbacks == 1


def test_with_on_error_raise_the_engine_failure_is_raised(tmp_path: Path, tiny_engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(tiny_engine._decoder, "decode", lambda *a: (_ for _ in ()).throw(GenerationFailed("no")))
    folder = three_documents(tmp_path / "in")
    with pytest.raises(GenerationFailed):
        run([folder], load_schema(SMALL), tiny_engine, RunConfig(parse_workers=0, on_error="raise"))


def test_a_grammar_without_fallback_that_cannot_compile_fails_only_its_prompt(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    from extractor.engines.base import Constraint
    from extractor.extract.prompt import build_prompt

    schema = load_schema(SMALL)
    prompt = build_prompt(schema, "Reference R-1").messages
    with pytest.raises(GenerationFailed, match="does not compile"):
        tiny_engine.generate([prompt], [Constraint(lark="start: no_such_rule\n")], 20)


@pytest.mark.slow
def test_llamacpp_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("llama_cpp")
    from extractor.engines.llamacpp import LlamaCppEngine

    break_grammars_of_marked_documents(monkeypatch)
    engine = LlamaCppEngine("embedded")
    sequences = engine._sequences
    real_submit = sequences._submit

    def submit(items):  # type: ignore[no-untyped-def]
        if BREAKS_ENGINE in engine.llama.detokenize([t for t, *_ in items]).decode("utf-8", "replace"):
            raise GenerationFailed("llama_decode returned -3 for a batch of 1 tokens")
        return real_submit(items)

    monkeypatch.setattr(sequences, "_submit", submit)
    folder = three_documents(tmp_path / "in")
    result = run([folder], load_schema(SMALL), engine, RunConfig(parse_workers=0, max_new_tokens=300))
    assert_the_batch_completed(result.records)
    assert result.fallbacks == 1
    # the engine is still usable after the failed prompt: the same good document once more
    again = run([folder / "a-good.txt"], load_schema(SMALL), engine, RunConfig(parse_workers=0, max_new_tokens=300))
    assert again.records[0].provenance.decoding == "grounded"


def test_a_bug_building_one_documents_grammar_falls_back_for_that_document_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside strict mode (tests run strict), a bug of ours on one document's text does not stop the batch."""
    import importlib
    import json

    from extractor.engines.fake import FakeEngine

    extract = importlib.import_module("extractor.extract.batch")
    real = extract.grounded_grammar

    def grammar(schema, text):  # type: ignore[no-untyped-def]
        if BREAKS_GRAMMAR in text:
            raise ArithmeticError("a bug on this text")
        return real(schema, text)

    monkeypatch.setattr(extract, "grounded_grammar", grammar)
    answer = json.dumps({"ref": "R-1", "kind": "a", "tags": [], "items": []})
    folder = three_documents(tmp_path / "in")
    with pytest.raises(ArithmeticError):  # strict (tests): our bug is raised
        run([folder], load_schema(SMALL), FakeEngine(respond=lambda p: answer), RunConfig(parse_workers=0))
    monkeypatch.delenv("EXTRACTOR_STRICT")
    result = run([folder], load_schema(SMALL), FakeEngine(respond=lambda p: answer), RunConfig(parse_workers=0))
    decoding = {Path(r.source).name: r.provenance.decoding for r in result.records if r.provenance}
    assert result.ok == 3
    assert decoding["a-good.txt"] == decoding["c-engine.txt"] == "grounded"
    assert is_fallback(decoding["b-grammar.txt"]) and "ArithmeticError: a bug on this text" in decoding["b-grammar.txt"]
