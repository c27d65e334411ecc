"""Several answers decoded together in one llama.cpp context (engines/llama_batch.py), with the
real embedded GGUF: each sequence sees its own prompt only, the shared prefix is evaluated once and
kept between calls, forced runs longer than a batch are fed in parts; one answer at a time by
default. Answers are compared bit for bit only where the arithmetic is the same: where a
sequence's cells sit in the cache changes the order attention sums in, so a long answer can part
from the one decoded alone at a near-tie (the agreement on real documents is measured in
bench/throughput.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from extractor.engines.base import Constraint
from extractor.extract.grammar import grounded_grammar
from extractor.extract.prompt import build_prompt
from extractor.schema import load_schema

pytestmark = pytest.mark.slow
BUDGET = 120  # answer tokens: enough to part at a near-tie, few enough for CI

TEXTS = [
    "INVOICE INV-2024-0042\nAcme Tools GmbH, Berlin\nDate: 2024-03-14\nTotal due: EUR 1.234,50",
    "Bright Paper Ltd\nInvoice no. BP-7781 issued 2 May 2023\nAmount payable GBP 86.40\nThank you!",
    "RECHNUNG Nr. 2018-471331\nMüller & Söhne KG\nDatum 05.06.2018\nGesamtbetrag 3.912,00 EUR",
    "Tax invoice 00017 - Harbour Cafe\n12/01/2022\n2 x Flat white 9.00\nTOTAL 9.00 AUD",
    "Invoice #A-19\nNorthwind Traders\nDue 2021-07-30\nBalance 15,000.00 USD\nWire to IBAN DE89...",
]


@pytest.fixture(scope="module")
def requests() -> tuple[list, list]:
    schema = load_schema("invoice")
    prompts = [build_prompt(schema, text).messages for text in TEXTS]
    constraints = [Constraint(lark=grounded_grammar(schema, text)) for text in TEXTS]
    return prompts, constraints


def engine(**options):  # type: ignore[no-untyped-def]
    pytest.importorskip("llama_cpp")
    from extractor.engines.llamacpp import LlamaCppEngine

    return LlamaCppEngine("embedded", **options)


@pytest.fixture(scope="module")
def alone(requests: tuple[list, list]) -> list[str]:
    """The answers decoded one at a time."""
    prompts, constraints = requests
    return [g.text for g in engine(slots=1).generate(prompts, constraints, BUDGET)]


def test_each_sequence_sees_only_its_own_prompt(requests: tuple[list, list]) -> None:
    """Decoded three at a time, every answer starts from the logits its prompt has alone: the
    sequences share the prefix's cells and nothing else. (Not bit for bit: attention over a
    different set of cache cells sums in another order (with flash attention partly in 16 bits: two
    of these prompts' first tokens part at a near-tie then), so answers can part at a near-tie; the
    agreement on real documents is measured in bench/throughput.py.)"""
    import numpy as np

    prompts, constraints = requests
    together = engine(slots=3)
    first: dict[int, np.ndarray] = {}
    step = together._greedy.step

    def recording_step(row, logits, *args):  # type: ignore[no-untyped-def]
        if not row.out.ids:
            first[row.index] = logits.numpy().copy()
        return step(row, logits, *args)

    object.__setattr__(together._greedy, "step", recording_step)
    together.generate(prompts, constraints, BUDGET)
    assert together._sequences.stats.most_sequences == 3  # more prompts than slots: they took turns
    alone = engine(slots=1)
    expected = [alone._sequences.next_token_logits(alone._prompt_ids(p)).numpy() for p in prompts]
    for i, own in enumerate(expected):
        tolerance = 0.05 * np.abs(own).max()
        assert np.abs(first[i] - own).max() < tolerance
        # nearer its own prompt's logits than any other prompt's (with flash attention, 0.09-0.30 on
        # average against 0.43 and more)
        distances = [float(np.abs(first[i] - other).mean()) for other in expected]
        assert int(np.argmin(distances)) == i, distances
        # the token chosen first is the one chosen alone, or one as likely within the tolerance
        assert own[int(first[i].argmax())] >= own.max() - tolerance


def test_the_same_batch_gives_the_same_answers(requests: tuple[list, list]) -> None:
    prompts, constraints = requests
    e = engine(slots=3)
    once = [g.text for g in e.generate(prompts, constraints, BUDGET)]
    assert [g.text for g in e.generate(prompts, constraints, BUDGET)] == once


def test_by_default_one_answer_at_a_time(requests: tuple[list, list], alone: list[str]) -> None:
    """On a CPU several slots do not pay (bench/throughput.py --real): the default is one, and the
    pipeline hands over one document at a time, so each row is committed as soon as it is done."""
    prompts, constraints = requests
    e = engine()
    assert (e._sequences.slots, e.batch_window) == (1, 1)
    assert [g.text for g in e.generate(prompts, constraints, BUDGET)] == alone
    assert e._sequences.stats.most_sequences == 1


def test_the_shared_prefix_is_evaluated_once_and_kept_between_calls(requests: tuple[list, list]) -> None:
    prompts, constraints = requests
    e = engine(slots=2)
    ids = [e._prompt_ids(p) for p in prompts]
    e.generate(prompts[:2], constraints[:2], 50)
    prefix = list(e._sequences.prefix)
    assert len(prefix) > 100  # chat template and instructions: the same for every invoice
    assert all(i[: len(prefix)] == prefix for i in ids)
    evaluated = e._sequences.stats.prefill_tokens
    e.generate(prompts[2:], constraints[2:], 50)
    assert e._sequences.prefix == prefix
    own = sum(len(i) - len(prefix) for i in ids[2:])
    assert e._sequences.stats.prefill_tokens - evaluated == own  # the prefix was not evaluated again


def test_forced_runs_longer_than_a_batch_are_fed_in_parts(requests: tuple[list, list], alone: list[str]) -> None:
    from extractor.engines.llama_batch import SequenceBatch

    prompts, constraints = requests
    e = engine(slots=3)
    e._sequences = SequenceBatch(
        e.llama, slots=3, context_tokens=4096, threads=2, n_batch=8, mask_vocab=e._ll_tokenizer.vocab_size
    )
    generations = e.generate(prompts, constraints, BUDGET)
    assert [g.text[:20] for g in generations] == [a[:20] for a in alone]
    assert max(_longest_forced_run(g.token_logprobs) for g in generations) > 8


def _longest_forced_run(logprobs: tuple[float, ...]) -> int:
    longest = run = 0
    for logprob in logprobs:
        run = run + 1 if logprob == 0.0 else 0  # forced tokens have probability 1
        longest = max(longest, run)
    return longest


def test_the_pipeline_hands_the_engine_several_documents_at_once(tmp_path: Path) -> None:
    """The pipeline hands the engine several documents at once and gets one row each."""
    from extractor.config import RunConfig
    from extractor.pipeline import run
    from extractor.types import Status

    folder = tmp_path / "in"
    folder.mkdir()
    for i, text in enumerate(TEXTS):
        (folder / f"{i}.txt").write_text(text)
    e = engine(slots=4)
    assert e.batch_window == 8
    small = load_schema(f"{Path(__file__).parent / 'small_schema.py'}:Small")
    result = run([folder], small, e, RunConfig(parse_workers=0, max_new_tokens=200))
    assert [r.status for r in result.records] == [Status.OK] * len(TEXTS)
    assert e._sequences.stats.most_sequences == 4


def test_the_batch_keeps_its_model_alive() -> None:
    """Closing a llama-cpp-python model frees its contexts first: a batch used after its engine was
    dropped must still have one (it crashed the process before)."""
    batch = engine()._sequences
    logits = batch.next_token_logits([1, 2, 3, 4, 5])
    assert logits.shape[0] == batch.n_vocab and bool(logits.isfinite().all())


def test_flash_attention_is_an_option_that_moves_the_logits_a_little(requests: tuple[list, list]) -> None:
    """Flash attention is off by default (on 2 cores its slower decode steps cost more than its faster
    prompts save) and on when asked. It sums attention in another order and partly in 16 bits, so
    the next-token log-probabilities move a little (0.23 at most over the top 20 here, as much as
    the Q8_0 copy moves them; the agreement of whole answers on real documents is in
    bench/throughput.py), and the fingerprint says which kernel ran (a nightly run re-extracts once
    when it changes)."""
    import numpy as np

    from extractor.engines.llamacpp import lazy_engine

    prompts, _ = requests
    logprobs = {}
    for flash in (True, False):
        e = engine(flash_attention=True) if flash else engine()
        logits = np.asarray(e._sequences.next_token_logits(e._prompt_ids(prompts[2])), dtype=np.float64)
        logprobs[flash] = logits - np.logaddexp.reduce(logits)
        assert e.fingerprint == lazy_engine("embedded", flash_attention=flash).fingerprint
        assert e.fingerprint.endswith("-fa") is flash
    on, off = logprobs[True], logprobs[False]
    top = np.argsort(-off)[:20]
    assert list(np.argsort(-on)[:3]) == list(top[:3])
    assert np.max(np.abs(on[top] - off[top])) < 0.5
