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
from collections.abc import Sequence
from typing import Any

from extractor.engines.base import Constraint, LazyEngine, Prompt
from extractor.engines.grammar_processor import GrammarProcessor
from extractor.engines.list_guard import RepeatedItemGuard
from extractor.engines.model_store import ModelSource, go_offline, model_fingerprint, resolve_model
from extractor.errors import EngineError
from extractor.types import Generation

log = logging.getLogger(__name__)

# Fixed JSON separators and no free whitespace, so a weak model cannot spend its budget on
# indentation; the same layout the grounded grammars write.
_JSON_LAYOUT = {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", "}


class TransformersEngine:
    def __init__(self, model: str | None = None, *, device: str = "auto", source: ModelSource | None = None):
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
        self._has_chat_template = bool(getattr(self.tokenizer, "chat_template", None))
        self._json_grammars: dict[str, str] = {}

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def truncate(self, text: str, max_tokens: int) -> str:
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = encoded["offset_mapping"]
        if len(offsets) <= max_tokens:
            return text
        return text[: offsets[max_tokens - 1][1]] if max_tokens > 0 else ""

    def generate(
        self, prompts: Sequence[Prompt], constraints: Sequence[Constraint], max_new_tokens: int
    ) -> list[Generation]:
        import torch
        from transformers import LogitsProcessorList

        texts = [self.render(p) for p in prompts]
        inputs = self.tokenizer(
            texts, return_tensors="pt", padding=True, add_special_tokens=not self._has_chat_template
        ).to(self.device)
        prompt_length = inputs["input_ids"].shape[1]
        grammar = GrammarProcessor(self._ll_tokenizer, [self._grammar(c) for c in constraints], prompt_length)
        guard = RepeatedItemGuard(self._token_strings, prompt_length, self.tokenizer.eos_token_id, self._comma_tokens)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                logits_processor=LogitsProcessorList([grammar, guard]),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        results = []
        for row in range(len(prompts)):
            ids = output[row, prompt_length:].tolist()
            if self.tokenizer.eos_token_id in ids:
                ids = ids[: ids.index(self.tokenizer.eos_token_id)]
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            results.append(
                Generation(
                    text=text,
                    prompt_tokens=int(inputs["attention_mask"][row].sum()),
                    completion_tokens=len(ids),
                    finished=_is_complete_json(text),
                )
            )
        return results

    def render(self, prompt: Prompt) -> str:
        """The exact text the model sees for `prompt` (chat template applied when the model has one)."""
        if self._has_chat_template:
            return str(
                self.tokenizer.apply_chat_template(
                    [dict(m) for m in prompt], tokenize=False, add_generation_prompt=True
                )
            )
        return self._plain(prompt)

    def prompt_ids(self, prompt: Prompt) -> list[int]:
        """The token ids `generate` feeds the model for `prompt` (for building training examples)."""
        return list(self.tokenizer(self.render(prompt), add_special_tokens=not self._has_chat_template)["input_ids"])

    @staticmethod
    def _plain(prompt: Prompt) -> str:
        # Models without a chat template get the messages as plain paragraphs.
        return "\n\n".join(m["content"] for m in prompt) + "\n\n"

    def _grammar(self, constraint: Constraint) -> str:
        import llguidance

        if constraint.lark is not None:
            return str(llguidance.LLMatcher.grammar_from_lark(constraint.lark))
        assert constraint.json_schema is not None
        key = json.dumps(constraint.json_schema, sort_keys=True)
        if key not in self._json_grammars:
            schema = {**constraint.json_schema, "x-guidance": _JSON_LAYOUT}
            self._json_grammars[key] = str(llguidance.LLMatcher.grammar_from_json_schema(schema))
        return self._json_grammars[key]

    @functools.cached_property
    def _ll_tokenizer(self) -> Any:
        import llguidance.hf

        return llguidance.hf.from_tokenizer(self.tokenizer)

    @functools.cached_property
    def _comma_tokens(self) -> Any:
        import torch

        return torch.tensor(["," in s for s in self._token_strings], dtype=torch.bool)

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


def lazy_engine(model: str | None = None, *, device: str = "auto") -> LazyEngine:
    """The engine `TransformersEngine(model)` would be, loaded only when `build()` is called."""
    source = resolve_model(model)
    return LazyEngine(
        model_id=source.model_id,
        fingerprint=model_fingerprint(source),
        schema_fingerprint=source.schema_fingerprint,
        build=lambda: TransformersEngine(source=source, device=device),
    )
