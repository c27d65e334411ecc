"""The batched decode loop gives the answers of the plainest possible loop: one prompt at a time,
the whole sequence recomputed at every step, no cache, no shared prefix, no padding."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from extractor.engines.base import Constraint
from extractor.engines.decoder import Decoder
from extractor.engines.list_guard import JsonListScanner, ListGuard
from extractor.extract.constraint import generation_schema
from extractor.extract.grammar import grounded_grammar
from extractor.extract.prompt import build_prompt
from extractor.schema import load_schema
from tests.small_schema import Small

TEXTS = [
    "short",
    "Invoice T-1 total 12.50 EUR due 2024-01-01, reference ref-77, customer a@b.example",
    "a somewhat longer document about an order and a refund " * 6,
    "null true false [] {} 3.5",
]
BUDGET = 300


@pytest.fixture(scope="module")
def sharp_model(tiny_engine):  # type: ignore[no-untyped-def]
    """The tiny model with sharpened attention: random weights attend almost uniformly, so a wrong
    position or a mask hole in the wrong place would hardly change its logits; this one's would."""
    model = copy.deepcopy(tiny_engine.model)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.mul_(6.0)
            layer.self_attn.k_proj.weight.mul_(6.0)
    return model


def _reference(engine, model, prompt_ids: list[int], grammar: str | None, budget: int) -> tuple[list[int], list[float]]:  # type: ignore[no-untyped-def]
    import llguidance
    import llguidance.torch

    matcher = llguidance.LLMatcher(engine._ll_tokenizer, grammar, log_level=0) if grammar else None
    bitmask = llguidance.torch.allocate_token_bitmask(1, engine._ll_tokenizer.vocab_size)
    guard, scanner = ListGuard(engine._token_strings), JsonListScanner()
    ids: list[int] = []
    logprobs: list[float] = []
    with torch.inference_mode():
        while len(ids) < budget:
            logits = model(input_ids=torch.tensor([prompt_ids + ids])).logits[0, -1].float()
            if matcher is not None:
                llguidance.torch.fill_next_token_bitmask(matcher, bitmask, 0)
                llguidance.torch.apply_token_bitmask_inplace(logits, bitmask[0])
            guard.restrict(scanner, logits)
            token = int(torch.argmax(logits))
            if token == engine.tokenizer.eos_token_id:
                break
            ids.append(token)
            logprobs.append(float(torch.log_softmax(logits, -1)[token]))
            scanner.feed(engine._token_strings[token])
            if matcher is not None:
                assert matcher.consume_token(token)
                if matcher.is_stopped():
                    break
    return ids, logprobs


def _decoder(engine, jump_forward: bool, model=None) -> Decoder:  # type: ignore[no-untyped-def]
    return Decoder(
        model if model is not None else engine.model,
        engine._ll_tokenizer,
        engine._token_strings,
        ListGuard(engine._token_strings),
        eos_token_id=engine.tokenizer.eos_token_id,
        pad_token_id=engine.tokenizer.pad_token_id,
        device=engine.device,
        jump_forward=jump_forward,
    )


@pytest.mark.parametrize("decoding", ["json", "grounded", "free"])
def test_batched_decoding_matches_one_prompt_at_a_time(tiny_engine, sharp_model, decoding: str) -> None:  # type: ignore[no-untyped-def]
    schema = load_schema(Small)
    prompts = [tiny_engine.prompt_ids(build_prompt(schema, t).messages) for t in TEXTS]
    if decoding == "json":
        grammars = [tiny_engine._grammar(Constraint(json_schema=generation_schema(schema)))] * len(TEXTS)
    elif decoding == "grounded":
        grammars = [tiny_engine._grammar(Constraint(lark=grounded_grammar(schema, t))) for t in TEXTS]
    else:
        grammars = [None] * len(TEXTS)
    budget = BUDGET if decoding != "free" else 40
    expected = [_reference(tiny_engine, sharp_model, p, g, budget) for p, g in zip(prompts, grammars, strict=True)]
    decoder = _decoder(tiny_engine, jump_forward=False, model=sharp_model)
    for _ in range(2):  # the second time, the shared prefix comes from the cache
        got = decoder.decode(prompts, grammars, budget)
        assert [d.ids for d in got] == [ids for ids, _ in expected]
        # the same distributions, not just the same winners: positions and masks are right
        for d, (_, logprobs) in zip(got, expected, strict=True):
            assert d.logprobs == pytest.approx(logprobs, abs=1e-4)
    assert len(decoder._prefixes) == 1  # the prompts share the instructions: computed once, reused
    if decoding != "free":
        assert all(d.complete for d in got)
    assert all(len(d.logprobs) == len(d.ids) and all(lp <= 0.0 for lp in d.logprobs) for d in got)


def test_jump_forward_writes_forced_tokens_without_a_pass_each(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    schema = load_schema(Small)
    prompts = [tiny_engine.prompt_ids(build_prompt(schema, t).messages) for t in TEXTS]
    grammars = [tiny_engine._grammar(Constraint(json_schema=generation_schema(schema)))] * len(TEXTS)
    for decoded in _decoder(tiny_engine, jump_forward=True).decode(prompts, grammars, BUDGET):
        assert decoded.complete
        text = tiny_engine.tokenizer.decode(decoded.ids)
        assert set(json.loads(text)) == set(Small.model_fields)  # keys and braces were forced
        assert any(decoded.forced) and decoded.forward_passes < len(decoded.ids)
        # a forced token is certain under the constraint
        assert all(lp == 0.0 for lp, forced in zip(decoded.logprobs, decoded.forced, strict=True) if forced)


def test_an_answer_cut_by_the_budget_is_not_complete(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    schema = load_schema(Small)
    prompt = tiny_engine.prompt_ids(build_prompt(schema, TEXTS[1]).messages)
    grammar = tiny_engine._grammar(Constraint(json_schema=generation_schema(schema)))
    (decoded,) = _decoder(tiny_engine, jump_forward=True).decode([prompt], [grammar], 5)
    assert not decoded.complete and len(decoded.ids) == 5


def test_forced_runs_fed_over_several_passes_give_the_same_answers(tiny_engine, sharp_model) -> None:  # type: ignore[no-untyped-def]
    schema = load_schema(Small)
    prompts = [tiny_engine.prompt_ids(build_prompt(schema, t).messages) for t in TEXTS]
    grammars = [tiny_engine._grammar(Constraint(lark=grounded_grammar(schema, t))) for t in TEXTS]
    answers = {}
    for step_tokens in (1, 3, 64):
        decoder = _decoder(tiny_engine, jump_forward=True, model=sharp_model)
        decoder.step_tokens = step_tokens
        answers[step_tokens] = decoder.decode(prompts, grammars, BUDGET)
    for step_tokens in (1, 3):
        assert [d.ids for d in answers[step_tokens]] == [d.ids for d in answers[64]]
        for d, e in zip(answers[step_tokens], answers[64], strict=True):  # other shapes, other rounding
            assert d.logprobs == pytest.approx(e.logprobs, abs=1e-4)
        assert sum(d.forward_passes for d in answers[step_tokens]) > sum(d.forward_passes for d in answers[64])
