"""A transformers logits processor that holds each row of a batch to its own llguidance grammar.

Grounded decoding gives every document its own grammar (the document's text is in it), so one
grammar per batch, as outlines' processors assume, is not enough. This is the thin loop around
llguidance's matcher: consume the last token, fill the allowed-token bitmask, mask the logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from extractor.errors import EngineError


class GrammarProcessor:
    def __init__(self, ll_tokenizer: Any, grammars: Sequence[str], prompt_length: int):
        import llguidance
        import llguidance.torch

        self.matchers = [llguidance.LLMatcher(ll_tokenizer, g, log_level=0) for g in grammars]
        for row, matcher in enumerate(self.matchers):
            if matcher.is_error():
                raise EngineError(f"grammar for batch row {row} does not compile: {matcher.get_error()}")
        self.bitmask = llguidance.torch.allocate_token_bitmask(len(grammars), ll_tokenizer.vocab_size)
        self.prompt_length = prompt_length

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import llguidance.torch

        generated = input_ids.shape[1] > self.prompt_length
        for row, matcher in enumerate(self.matchers):
            if generated and not matcher.is_stopped():
                matcher.consume_token(int(input_ids[row, -1]))
            llguidance.torch.fill_next_token_bitmask(matcher, self.bitmask, row)
        llguidance.torch.apply_token_bitmask_inplace(scores, self.bitmask.to(scores.device))
        return scores
