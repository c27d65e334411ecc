"""The batched, grammar-constrained greedy decode loop behind the transformers engine.

`transformers.generate` with logits processors does one forward pass per token for every row of
the batch until the longest answer ends. This loop does less work for the same answers:

- **Shared prefix**: the prompt's leading tokens that every prompt of the batch shares (chat
  template + instructions + field list: the same for every document of a schema) are run once,
  at batch size 1, and their key/value cache is kept and copied into each batch.
- **Ragged batches**: each prompt's own tokens are left-padded *after* the shared prefix; rows
  carry their own position ids and the attention mask has holes where the padding is, so every
  row sees exactly its own prompt.
- **Jump-forward**: after each sampled token, the tokens the grammar forces (keys, quotes,
  braces, `null` after a forced choice...) are appended in the same forward pass as the next
  step, instead of one pass each (at most `step_tokens` per pass: a pass costs every row the
  width of its widest row). Answers use compact JSON, so much of the output is forced.
- **Early exit**: a row leaves the batch the moment its grammar is complete (no EOS step), or
  when it runs out of budget; the rest of the batch continues without it.
- Logits only for the last position (`logits_to_keep=1`): prefill never materialises a
  sequence x vocabulary matrix.

Every sampled token's log-probability under the constraint (the renormalised distribution over
the tokens the grammar allowed) is kept; forced tokens have probability 1.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from extractor.engines.greedy import Decoded, Greedy, Row
from extractor.engines.list_guard import ListGuard
from extractor.errors import GenerationFailed

PREFIX_CACHE_ENTRIES = 4
# Tokens one row feeds per forward pass: forced runs longer than this are fed over several passes, since a
# batch pass costs its widest row's width for every row (8 measured best on 2 cores: bench/throughput.py).
DEFAULT_STEP_TOKENS = 8
MIN_SHARED_PREFIX = 16  # tokens; a shorter common prefix is not worth a cache entry


class Decoder:
    """Greedy decoding of a batch of token-id prompts, each held to its own llguidance grammar."""

    def __init__(
        self,
        model: Any,
        ll_tokenizer: Any,
        token_strings: list[str],
        guard: ListGuard,
        *,
        eos_token_id: int,
        pad_token_id: int,
        device: str,
        jump_forward: bool = True,
        step_tokens: int = DEFAULT_STEP_TOKENS,
    ):
        self.model = model
        self.ll_tokenizer = ll_tokenizer
        self.pad_token_id = pad_token_id
        self.device = device
        self.greedy = Greedy(token_strings, guard, eos_token_id, jump_forward)
        self.step_tokens = step_tokens
        self._prefixes: OrderedDict[tuple[int, ...], Any] = OrderedDict()  # ids -> DynamicCache (batch 1)

    def decode(self, prompts: Sequence[Sequence[int]], grammars: Sequence[Any], max_new_tokens: int) -> list[Decoded]:
        """`grammars`: per prompt, an llguidance grammar, an already compiled `LLMatcher`, or None
        (decode freely)."""
        import llguidance
        import llguidance.torch
        import torch

        if not prompts:
            return []
        rows = []
        for i, grammar in enumerate(grammars):
            matcher = grammar
            if isinstance(grammar, str):
                matcher = llguidance.LLMatcher(self.ll_tokenizer, grammar, log_level=0)
                if matcher.is_error():
                    raise GenerationFailed(f"grammar for batch row {i} does not compile: {matcher.get_error()}")
            rows.append(Row(i, matcher))
        with torch.inference_mode():
            prefix_len, cache = self._prefix(prompts)
            logits = self._prefill(rows, prompts, prefix_len, cache)
            bitmask = llguidance.torch.allocate_token_bitmask(len(rows), self.ll_tokenizer.vocab_size)
            active = list(range(len(rows)))  # batch row of the cache -> rows index
            while True:
                appended: list[list[int]] = []
                for slot, r in enumerate(active):
                    row = rows[r]
                    if not row.pending:  # its logits are for its next token: choose it
                        row.pending = self.greedy.step(row, logits[slot], bitmask, row.index, max_new_tokens)
                    appended.append(row.pending[: self.step_tokens])
                    row.pending = row.pending[self.step_tokens :]
                keep = [slot for slot, r in enumerate(active) if not rows[r].finished(max_new_tokens)]
                if not keep:
                    break
                if len(keep) < len(active):
                    cache.batch_select_indices(torch.tensor(keep, device=self.device))
                    self._mask = self._mask[keep]
                    active = [active[s] for s in keep]
                    appended = [appended[s] for s in keep]
                logits = self._forward([rows[r] for r in active], appended, cache)
        return [r.out for r in rows]

    # -- steps ---------------------------------------------------------------------------------

    def _prefix(self, prompts: Sequence[Sequence[int]]) -> tuple[int, Any]:
        """The longest cached prefix shared by every prompt (computed and cached when there is none),
        as (length, a copy of its cache expanded to the batch)."""
        from transformers import DynamicCache

        shortest = min(len(p) for p in prompts)
        common = 0
        while common < shortest - 1 and all(p[common] == prompts[0][common] for p in prompts):
            common += 1
        best: tuple[int, ...] | None = None
        for key in self._prefixes:
            if len(key) <= common and tuple(prompts[0][: len(key)]) == key and (best is None or len(key) > len(best)):
                best = key
        if best is None and common >= MIN_SHARED_PREFIX:
            best = tuple(prompts[0][:common])
            self._prefixes[best] = self._run_prefix(best)
            while len(self._prefixes) > PREFIX_CACHE_ENTRIES:
                self._prefixes.popitem(last=False)
        if best is None:
            return 0, DynamicCache()
        self._prefixes.move_to_end(best)
        cache = copy.deepcopy(self._prefixes[best])
        cache.batch_repeat_interleave(len(prompts))
        return len(best), cache

    def _run_prefix(self, ids: tuple[int, ...]) -> Any:
        import torch
        from transformers import DynamicCache

        cache = DynamicCache()
        input_ids = torch.tensor([ids], device=self.device)
        self.model(input_ids=input_ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
        return cache

    def _prefill(self, rows: list[Row], prompts: Sequence[Sequence[int]], prefix_len: int, cache: Any) -> Any:
        import torch

        self._mask = torch.ones((len(rows), prefix_len), dtype=torch.long, device=self.device)
        for row in rows:
            row.position = prefix_len
        return self._forward(rows, [list(p[prefix_len:]) for p in prompts], cache)

    def _forward(self, rows: list[Row], new: list[list[int]], cache: Any) -> Any:
        """Append each row's new tokens (left-padded to the longest) and return the last logits."""
        import torch

        width = max(len(n) for n in new)
        ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        positions = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for slot, (row, tokens) in enumerate(zip(rows, new, strict=True)):
            n = len(tokens)
            ids[slot, width - n :] = torch.tensor(tokens)
            positions[slot, width - n :] = torch.arange(row.position, row.position + n)
            positions[slot, : width - n] = row.position
            mask[slot, width - n :] = 1
            row.position += n
            row.out.forward_passes += 1
        self._mask = torch.cat([self._mask, mask.to(self.device)], dim=1)
        output = self.model(
            input_ids=ids.to(self.device),
            attention_mask=self._mask,
            position_ids=positions.to(self.device),
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return output.logits[:, -1, :]
