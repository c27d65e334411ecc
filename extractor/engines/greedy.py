"""One greedy, grammar-constrained step of one sequence: the choice every decode loop makes the
same way (the transformers engine's `Decoder` and llama.cpp's `SequenceBatch`).

Given the logits for a sequence's next token: the tokens its grammar forbids are masked, the list
guard may end a runaway list, the most likely token is chosen and its log-probability under the
constraint kept; the tokens the grammar then forces (keys, quotes, braces...) follow at once
(jump-forward) with probability 1. The answer ends when the grammar admits nothing more (no
end-of-sequence step), when the model chooses end-of-sequence, or at the token budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from extractor.engines.list_guard import JsonListScanner, ListGuard
from extractor.errors import GenerationFailed


@dataclass
class Decoded:
    """One answer: token ids (sampled and forced), and per token its log-probability under the
    constraint (0.0 for forced tokens) and whether it was forced."""

    ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    forced: list[bool] = field(default_factory=list)
    complete: bool = False  # the grammar accepted the answer (it did not run out of budget)
    ended: bool = False  # the answer ended (grammar complete, or the model chose end-of-sequence)
    forward_passes: int = 0


@dataclass
class Row:
    """A sequence being decoded."""

    index: int  # its prompt's place in the batch
    matcher: Any  # llguidance.LLMatcher, or None when unconstrained
    scanner: JsonListScanner = field(default_factory=JsonListScanner)
    position: int = 0  # position id of the sequence's next token
    pending: list[int] = field(default_factory=list)  # chosen or forced tokens not yet fed to the model
    out: Decoded = field(default_factory=Decoded)

    def finished(self, max_new_tokens: int) -> bool:
        return self.out.ended or len(self.out.ids) >= max_new_tokens


@dataclass(frozen=True)
class Greedy:
    token_strings: list[str]
    guard: ListGuard
    eos_token_id: int
    jump_forward: bool = True

    def step(self, row: Row, logits: Any, bitmask: Any, bitmask_row: int, max_new_tokens: int) -> list[int]:
        """Choose the row's next token (and what the grammar forces after it) from `logits` (a 1-D
        torch tensor, masked in place when it is float32); returns the new ids. `bitmask` is an
        llguidance token bitmask (torch) with a row `bitmask_row` this call may overwrite."""
        import llguidance.torch
        import torch

        out = row.out
        scores = logits.float()
        if row.matcher is not None:
            llguidance.torch.fill_next_token_bitmask(row.matcher, bitmask, bitmask_row)
            llguidance.torch.apply_token_bitmask_inplace(scores, bitmask[bitmask_row].to(scores.device))
        self.guard.restrict(row.scanner, scores)
        token = int(torch.argmax(scores))
        if token == self.eos_token_id:
            out.complete = row.matcher is None or row.matcher.is_accepting()
            out.ended = True
            return [token]
        new = [token]
        out.logprobs.append(float(torch.log_softmax(scores, dim=-1)[token]))
        out.forced.append(False)
        if row.matcher is not None:
            if not row.matcher.consume_token(token):
                raise GenerationFailed(f"grammar refused token {token} it allowed: {row.matcher.get_error()}")
            if self.jump_forward:
                room = max_new_tokens - len(out.ids) - 1
                forced = [t for t in row.matcher.compute_ff_tokens() if t != self.eos_token_id][: max(room, 0)]
                if forced:
                    if not row.matcher.consume_tokens(forced):
                        raise GenerationFailed(f"grammar refused forced tokens: {row.matcher.get_error()}")
                    new.extend(forced)
                    out.logprobs.extend([0.0] * len(forced))
                    out.forced.extend([True] * len(forced))
            if row.matcher.is_stopped():  # the grammar admits nothing more: no end-of-sequence step
                out.complete = out.ended = True
        out.ids.extend(new)
        for t in new:
            if t < len(self.token_strings):
                row.scanner.feed(self.token_strings[t])
        return new
