"""transformers + torch engine, each answer held to its own grammar by llguidance.

Uses a CUDA GPU in bfloat16 when one is present, else the CPU in float32. JSON-Schema grammars
are cached per schema on the engine; grounded (Lark) grammars are built per document (~15 ms).

llguidance builds a JSON Schema constraint in ~0.35 s, where outlines-core's index took 11-39 s
for the shipped schemas with SmolLM2's 49k vocabulary (measured here), with about the same
per-token cost; and it is the engine that offers a substring constraint for grounded decoding.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Sequence
from typing import Any

from extractor.engines.base import Constraint, LazyEngine, Prompt, token_ends
from extractor.engines.chat import count_tokens, has_chat_template, render, truncate
from extractor.engines.constraints import MatcherFactory
from extractor.engines.decoder import Decoder
from extractor.engines.list_guard import ListGuard
from extractor.engines.model_store import ModelSource, go_offline, model_fingerprint, resolve_model
from extractor.errors import EngineError
from extractor.types import Generation

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 8  # prompts decoded together (bench/throughput.py chose it)


class TransformersEngine:
    def __init__(
        self,
        model: str | None = None,
        *,
        device: str = "auto",
        source: ModelSource | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        jump_forward: bool = True,
        threads: int | None = None,
    ):
        go_offline()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the CLI shows its own progress
        self.source = source or resolve_model(model)
        self.model_id = self.source.model_id
        self.schema_fingerprint = self.source.schema_fingerprint
        self.fingerprint = model_fingerprint(self.source)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cpu":
            # One thread per core this process may use; more only contend with the parse workers.
            torch.set_num_threads(threads or len(os.sched_getaffinity(0)))
            # Grouped-query attention inside SDPA instead of copying every key/value head for each
            # query head at every step: 1.8x faster decoding here (a masked, multi-token step takes
            # transformers' copying path otherwise). transformers reads this at each call.
            os.environ.setdefault("TRANSFORMERS_SDPA_FORCE_GQA", "1")
        self.batch_size = batch_size
        self.jump_forward = jump_forward
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.source.path))
            self.model = AutoModelForCausalLM.from_pretrained(str(self.source.path), dtype=dtype)
        except (OSError, ValueError) as exc:
            raise EngineError(f"cannot load model from {self.source.path}: {exc}") from exc
        if self.source.adapter is not None:
            self.model = _merge_adapter(self.model, self.source.adapter)
        self.model.to(device).eval()
        self.device = device
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"  # decoder-only batches: prompts end where answers start
        self.max_context_tokens = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self._has_chat_template = has_chat_template(self.tokenizer)

    def count_tokens(self, text: str) -> int:
        return count_tokens(self.tokenizer, text)

    def truncate(self, text: str, max_tokens: int) -> str:
        return truncate(self.tokenizer, text, max_tokens)

    def generate(
        self, prompts: Sequence[Prompt], constraints: Sequence[Constraint | None], max_new_tokens: int
    ) -> list[Generation]:
        """Answers in the order of `prompts`; run in micro-batches of similar prompt length. A None
        constraint decodes freely (benchmarks compare against it). A constraint that cannot be
        compiled is replaced by its fallback (the Generation says why), or fails that prompt."""
        ids = [self.prompt_ids(p) for p in prompts]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        results: list[Generation | None] = [None] * len(ids)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            compiled = [self._matchers.compile(constraints[i]) for i in chunk]
            decoded = self._decoder.decode([ids[i] for i in chunk], [c.matcher for c in compiled], max_new_tokens)
            for i, answer, c in zip(chunk, decoded, compiled, strict=True):
                text = self.tokenizer.decode(answer.ids, skip_special_tokens=True)
                pieces = [self._token_strings[t] for t in answer.ids]
                results[i] = Generation(
                    text=text,
                    prompt_tokens=len(ids[i]),
                    completion_tokens=len(answer.ids),
                    finished=answer.complete and (constraints[i] is None or _is_complete_json(text)),
                    token_ids=tuple(answer.ids),
                    token_logprobs=tuple(answer.logprobs),
                    forward_passes=answer.forward_passes,
                    token_ends=token_ends(answer.ids, text, pieces, self._decode),
                    fallback_reason=c.fallback_reason,
                )
        return [r for r in results if r is not None]

    def _decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    def render(self, prompt: Prompt) -> str:
        """The exact text the model sees for `prompt` (chat template applied when the model has one)."""
        return render(self.tokenizer, prompt)

    def prompt_ids(self, prompt: Prompt) -> list[int]:
        """The token ids `generate` feeds the model for `prompt` (for building training examples)."""
        return list(self.tokenizer(self.render(prompt), add_special_tokens=not self._has_chat_template)["input_ids"])

    def _grammar(self, constraint: Constraint | None) -> str | None:
        return None if constraint is None else self._matchers.grammar(constraint)

    @functools.cached_property
    def _ll_tokenizer(self) -> Any:
        import llguidance.hf

        return llguidance.hf.from_tokenizer(self.tokenizer)

    @functools.cached_property
    def _matchers(self) -> MatcherFactory:
        return MatcherFactory(self._ll_tokenizer)

    @functools.cached_property
    def _decoder(self) -> Decoder:
        return Decoder(
            self.model,
            self._ll_tokenizer,
            self._token_strings,
            ListGuard(self._token_strings),
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
            device=self.device,
            jump_forward=self.jump_forward,
        )

    @functools.cached_property
    def _token_strings(self) -> list[str]:
        return self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])


def _merge_adapter(model: Any, adapter: Any) -> Any:
    """Base + LoRA adapter, merged into plain weights: inference then costs what the base costs."""
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    except (OSError, ValueError, RuntimeError) as exc:
        raise EngineError(f"cannot apply adapter {adapter}: {exc}") from exc


def _is_complete_json(text: str) -> bool:
    # Under the grammar, an answer that does not parse can only be one that was cut off.
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def lazy_engine(model: str | None = None, *, device: str = "auto", **options: Any) -> LazyEngine:
    """The engine `TransformersEngine(model)` would be, loaded only when `build()` is called."""
    source = resolve_model(model)
    return LazyEngine(
        model_id=source.model_id,
        fingerprint=model_fingerprint(source),
        schema_fingerprint=source.schema_fingerprint,
        build=lambda: TransformersEngine(source=source, device=device, **options),
    )
