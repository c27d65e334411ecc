"""A prompt as the model sees it, and token counts, the same for every engine: an adapter is trained
on the text `render` gives (finetune builds its examples through the transformers engine) and served
by llama.cpp from the same text, so the two cannot drift apart."""

from __future__ import annotations

from typing import Any

from extractor.engines.base import Prompt


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render(tokenizer: Any, prompt: Prompt) -> str:
    """The exact text the model sees for `prompt`: the model's chat template applied, or for a model
    without one, the messages as plain paragraphs."""
    if has_chat_template(tokenizer):
        return str(tokenizer.apply_chat_template([dict(m) for m in prompt], tokenize=False, add_generation_prompt=True))
    return "\n\n".join(m["content"] for m in prompt) + "\n\n"


def count_tokens(tokenizer: Any, text: str) -> int:
    """Tokens of `text` under a Hugging Face tokenizer (no special tokens)."""
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def truncate(tokenizer: Any, text: str, max_tokens: int) -> str:
    """The longest prefix of `text` that is at most `max_tokens` tokens of a Hugging Face tokenizer."""
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    if len(offsets) <= max_tokens:
        return text
    return text[: offsets[max_tokens - 1][1]] if max_tokens > 0 else ""
