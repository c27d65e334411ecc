"""Several sequences decoded together in one llama.cpp context, through llama-cpp-python's
low-level batch API (its high-level `Llama` evaluates one sequence at a time).

- **Slots**: the context holds up to `slots` answer sequences, each in its own KV stream of
  `context_tokens` cells. Every decode step evaluates the next tokens of all of them (the token
  just chosen and those its grammar forces) in one `llama_decode`. A sequence leaves the moment its
  answer ends, its stream is emptied, and the next prompt takes its slot.
- **Own streams, not one shared pool** (`kv_unified=False`) when there are several slots: with
  one pool, llama.cpp's attention runs over every sequence's cells, masked, so four 1,000-token
  prompts cost four times the attention each (on 2 cores, prompt evaluation fell from 183 to 102
  tokens/s). With one slot, one pool of `context_tokens` cells: the answer shares the prefix's
  cells instead of copying them.
- **Shared prefix**: the leading tokens the prompts share (chat template and instructions: the
  same for every document of a schema) are evaluated once into a prefix stream that is kept
  between calls. A new sequence starts as a copy of it (`llama_memory_seq_cp`) and evaluates only
  its own tokens.
- Each sequence keeps its own grammar matcher; the choice of a token is `greedy.Greedy.step`, the
  same as the transformers engine's.
"""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from extractor.engines.greedy import Decoded, Greedy, Row
from extractor.errors import GenerationFailed

PREFIX_SEQ = 0  # the sequence holding the shared prefix; answers use 1..slots


@dataclass
class DecodeStats:
    """Where decoding time went, summed over the context's life (bench/throughput.py reads it)."""

    prefill_tokens: int = 0  # prompt tokens evaluated (the shared prefix once, then each prompt's own)
    prefill_s: float = 0.0
    steps: int = 0  # llama_decode calls while answering
    step_tokens: int = 0  # tokens they evaluated: chosen and forced, over all sequences
    step_s: float = 0.0
    choose_s: float = 0.0  # grammar mask, list guard and choice of each token (Python, llguidance)
    most_sequences: int = 0  # answers that were decoding at once, at most

    def as_dict(self) -> dict[str, object]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in vars(self).items()}


@dataclass
class _Active:
    seq: int  # llama.cpp sequence id
    row: Row


class SequenceBatch:
    """A llama.cpp context decoding up to `slots` sequences at once (see the module docstring)."""

    def __init__(
        self,
        llama: Any,
        *,
        slots: int,
        context_tokens: int,
        threads: int,
        n_batch: int = 512,
        mask_vocab: int,
        lora_adapter: Any = None,
        flash_attention: bool = False,
    ):
        import llama_cpp
        from llama_cpp import _internals
        from llama_cpp._utils import suppress_stdout_stderr

        if slots < 1:
            raise ValueError("slots must be at least 1")
        params = llama_cpp.llama_context_params.from_buffer_copy(llama.context_params)
        unified = slots == 1
        params.n_ctx = context_tokens if unified else context_tokens * (slots + 1)  # split between streams
        params.n_batch = params.n_ubatch = n_batch
        params.n_seq_max = slots + 1  # the answers and the prefix
        params.kv_unified = unified
        params.n_threads = params.n_threads_batch = threads
        # Off unless asked, as llama-cpp-python has it (llama.cpp's own default, "auto", has it on for a
        # CPU): on 2 cores it evaluates prompts faster and decodes slower (llamacpp.FLASH_ATTENTION).
        params.flash_attn_type = flash_attn_type(flash_attention)
        with suppress_stdout_stderr(disable=False):  # llama.cpp logs context warnings on stderr
            self._ctx = _internals.LlamaContext(model=llama._model, params=params, verbose=False)
        if lora_adapter is not None:
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(lora_adapter)
            scales = (llama_cpp.ctypes.c_float * 1)(1.0)
            if llama_cpp.llama_set_adapters_lora(self._ctx.ctx, adapters, 1, scales):
                raise RuntimeError("llama.cpp refused the LoRA adapter for the batch context")
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        weakref.finalize(self, llama_cpp.llama_batch_free, self._batch)
        self._llama_cpp = llama_cpp
        # The model and adapter the context runs on: closing the Llama frees the context first, so
        # it must live as long as this batch (an engine dropped while its batch is in use).
        self._llama = llama
        self._memory = self._ctx.memory
        self.slots = slots
        self.context_tokens = int(llama_cpp.llama_n_ctx(self._ctx.ctx)) // (1 if unified else slots + 1)
        self.n_batch = n_batch
        self.n_vocab = int(llama.n_vocab())
        self.mask_vocab = mask_vocab  # the grammar's vocabulary (llguidance's token bitmask width)
        self.prefix: list[int] = []  # the tokens the prefix sequence holds
        self.stats = DecodeStats()

    def decode(
        self, prompts: Sequence[list[int]], matchers: Sequence[Any], max_new_tokens: int, greedy: Greedy
    ) -> list[Decoded]:
        """Greedy answers to `prompts` (token ids), each held to its matcher (None: free)."""
        import llguidance.torch

        if not prompts:
            return []
        bitmask = llguidance.torch.allocate_token_bitmask(1, self.mask_vocab)
        queue = deque(range(len(prompts)))
        free = list(range(self.slots, 0, -1))
        active: list[_Active] = []
        answers: list[Decoded | None] = [None] * len(prompts)
        try:
            self._share_prefix(prompts)
            while queue or active:
                while queue and free:
                    i = queue.popleft()
                    row = Row(i, matchers[i], position=len(prompts[i]))
                    seq = free.pop()
                    logits = self._prefill(seq, prompts[i])
                    row.out.forward_passes = 1
                    chosen = time.perf_counter()
                    row.pending = greedy.step(row, logits, bitmask, 0, max_new_tokens)
                    self.stats.choose_s += time.perf_counter() - chosen
                    active.append(_Active(seq, row))
                for a in [a for a in active if a.row.finished(max_new_tokens)]:
                    self._llama_cpp.llama_memory_seq_rm(self._memory, a.seq, -1, -1)
                    answers[a.row.index] = a.row.out
                    free.append(a.seq)
                    active.remove(a)
                if active:
                    self._step(active, greedy, bitmask, max_new_tokens)
        except BaseException:
            self._reset()  # half-evaluated sequences: start afresh
            raise
        return [a for a in answers if a is not None]

    def next_token_logits(self, prompt: list[int]) -> Any:
        """The logits for the token after `prompt` (float32 tensor), as an answer's first step sees them."""
        try:
            self._share_prefix([prompt])
            return self._prefill(1, prompt)
        finally:
            self._llama_cpp.llama_memory_seq_rm(self._memory, 1, -1, -1)

    # -- steps ---------------------------------------------------------------------------------

    def _share_prefix(self, prompts: Sequence[list[int]]) -> None:
        """Make the prefix sequence hold the longest prefix all `prompts` share (all but the last
        token of a lone prompt), keeping what it already holds of it."""
        target = _common_prefix(prompts)
        keep = _common_length(self.prefix, target)
        if keep < len(self.prefix):
            self._llama_cpp.llama_memory_seq_rm(self._memory, PREFIX_SEQ, keep, -1)
        self.prefix = self.prefix[:keep]
        if len(target) > keep:
            self._evaluate(PREFIX_SEQ, target[keep:], keep, logits=False)
            self.prefix = list(target)

    def _prefill(self, seq: int, prompt: list[int]) -> Any:
        """Start sequence `seq` as a copy of the prefix and evaluate the rest of `prompt`; the logits
        for its next token."""
        self._llama_cpp.llama_memory_seq_cp(self._memory, PREFIX_SEQ, seq, -1, -1)
        return self._evaluate(seq, prompt[len(self.prefix) :], len(self.prefix), logits=True)

    def _evaluate(self, seq: int, tokens: list[int], start: int, *, logits: bool) -> Any:
        """Evaluate `tokens` of one sequence from position `start`, n_batch at a time; the logits
        after its last token when asked for."""
        started = time.perf_counter()
        for at in range(0, len(tokens), self.n_batch):
            chunk = tokens[at : at + self.n_batch]
            last = at + len(chunk) == len(tokens)
            self._submit(
                [(t, start + at + k, seq, logits and last and k == len(chunk) - 1) for k, t in enumerate(chunk)]
            )
        self.stats.prefill_tokens += len(tokens)
        self.stats.prefill_s += time.perf_counter() - started
        return self._logits((len(tokens) - 1) % self.n_batch) if logits else None

    def _step(self, active: list[_Active], greedy: Greedy, bitmask: Any, max_new_tokens: int) -> None:
        """Feed every active sequence its pending tokens in one batch (more than one when they
        exceed n_batch tokens) and choose each sequence's next tokens."""
        items: list[tuple[int, int, int, bool]] = []
        owners: list[tuple[int, _Active]] = []  # (batch index of its last token, sequence)
        for a in active:
            tokens, a.row.pending = a.row.pending, []
            a.row.out.forward_passes += 1
            if len(tokens) > self.n_batch:  # a forced run longer than a batch: its head alone first
                head = len(tokens) - self.n_batch
                self._evaluate(a.seq, tokens[:head], a.row.position, logits=False)
                a.row.position += head
                tokens = tokens[head:]
            if len(items) + len(tokens) > self.n_batch:
                self._choose(items, owners, greedy, bitmask, max_new_tokens)
                items, owners = [], []
            items.extend((t, a.row.position + k, a.seq, k == len(tokens) - 1) for k, t in enumerate(tokens))
            a.row.position += len(tokens)
            owners.append((len(items) - 1, a))
        self._choose(items, owners, greedy, bitmask, max_new_tokens)

    def _choose(
        self,
        items: list[tuple[int, int, int, bool]],
        owners: list[tuple[int, _Active]],
        greedy: Greedy,
        bitmask: Any,
        max_new_tokens: int,
    ) -> None:
        stats = self.stats
        started = time.perf_counter()
        self._submit(items)
        stepped = time.perf_counter()
        for index, a in owners:
            a.row.pending = greedy.step(a.row, self._logits(index), bitmask, 0, max_new_tokens)
        stats.steps += 1
        stats.step_tokens += len(items)
        stats.step_s += stepped - started
        stats.choose_s += time.perf_counter() - stepped
        stats.most_sequences = max(stats.most_sequences, len(owners))

    def _submit(self, items: Sequence[tuple[int, int, int, bool]]) -> None:
        batch = self._batch
        batch.n_tokens = len(items)
        for i, (token, position, seq, logits) in enumerate(items):
            batch.token[i] = token
            batch.pos[i] = position
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        status = self._llama_cpp.llama_decode(self._ctx.ctx, batch)
        if status != 0:
            raise GenerationFailed(f"llama_decode returned {status} for a batch of {len(items)} tokens")

    def _logits(self, index: int) -> Any:
        import numpy as np
        import torch

        pointer = self._llama_cpp.llama_get_logits_ith(self._ctx.ctx, index)
        return torch.from_numpy(np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy())

    def _reset(self) -> None:
        self._llama_cpp.llama_memory_clear(self._memory, True)
        self.prefix = []


def flash_attn_type(enabled: bool) -> int:
    """llama.cpp's context setting for its fused attention kernel: on, or off (not "auto")."""
    import llama_cpp

    return llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if enabled else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED


def _common_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _common_prefix(prompts: Sequence[list[int]]) -> list[int]:
    """The longest prefix every prompt shares, leaving each at least one token of its own (whose
    logits start its answer)."""
    shared = min(len(p) for p in prompts) - 1
    for p in prompts[1:]:
        shared = min(shared, _common_length(prompts[0], p))
    return prompts[0][: max(shared, 0)]
