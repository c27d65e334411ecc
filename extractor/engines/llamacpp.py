"""llama.cpp engine (`--engine llamacpp`): the GGUF file itself, quantised weights and all, through
`llama-cpp-python`, each answer held to its grammar by llguidance.

llama-cpp-python compiles llama.cpp from source (about 9 minutes here), so it is an optional extra:
`pip install 'extractor[llamacpp]'`. Answers decode in a context of its own (`llama_batch.py`,
which can also decode several together: `slots`); the shared prompt
prefix is evaluated once and kept between calls, and tokens the grammar forces are evaluated in
the same step (jump-forward), as in the transformers engine. The prompt is rendered with the model's chat
template from the GGUF's tokenizer (written out once as tokenizer files; the weights are never
converted), then tokenised by llama.cpp.

A GGUF whose quantisation has no fast CPU matrix path in llama.cpp (the embedded model's Q4_1) runs
as a Q8_0 copy made once (`gguf_layout.py`): 1.4-2x the prompt tokens a second on 2 cores.

A fine-tuned model (base + PEFT LoRA adapter) runs as the base GGUF with the adapter converted
to a GGUF LoRA file (`gguf_lora.py`, once, cached), applied by llama.cpp at run time.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

from extractor.engines.base import Constraint, LazyEngine, Prompt, token_ends
from extractor.engines.chat import count_tokens, has_chat_template, render, truncate
from extractor.engines.constraints import MatcherFactory
from extractor.engines.gguf_layout import cpu_weights, cpu_weights_type
from extractor.engines.greedy import Greedy
from extractor.engines.list_guard import ListGuard
from extractor.engines.llama_batch import SequenceBatch
from extractor.engines.llama_load import load_llama
from extractor.engines.model_store import ModelSource, go_offline, model_fingerprint, resolve_model
from extractor.errors import ConfigError, GenerationFailed
from extractor.types import Generation

# Answers decoded at once. One on a CPU: on 2 cores, real documents spend 75-82% of their time
# evaluating the prompt, and a decode step of four answers costs what four steps of one do; four
# slots ran 0.98x the real invoices a minute of one, and 0.90x on a long report, with 0.36 GiB more
# memory (bench/throughput.py --real, 2026-12-02 at 88c022b); 0.83x and 0.83x on a Xeon with AMX
# (at 1d52a52).
DEFAULT_SLOTS = 1
# The kernels and weights the engine runs by default (both name themselves in the fingerprint):
# a Q8_0 copy of weights llama.cpp multiplies slowly on a CPU (gguf_layout.py), and no flash
# attention. llama.cpp's flash attention evaluated the real invoices' prompts 1.19x as fast, but its
# decode steps took 2.4x as long with the 135M model: 0.93x the invoices a minute and 0.86x the
# report; 1.01x the invoices with the 1.5B model (bench/throughput.py --real, 2026-12-02 at 1d52a52).
REQUANTISE = True
FLASH_ATTENTION = False


class LlamaCppEngine:
    def __init__(
        self,
        model: str | None = None,
        *,
        source: ModelSource | None = None,
        threads: int | None = None,
        context_tokens: int = 4096,
        slots: int = DEFAULT_SLOTS,
        jump_forward: bool = True,
        requantise: bool = REQUANTISE,
        flash_attention: bool = FLASH_ATTENTION,
        **_ignored: Any,
    ):
        """`context_tokens`: the most one prompt and its answer may take; `slots`: answers decoded
        at once, each in its own KV stream of `context_tokens` cells (one more holds the shared
        prefix); `requantise`: run a Q8_0 copy of weights llama.cpp multiplies slowly on a CPU
        (`gguf_layout.py`; False: the file as it is); `flash_attention`: llama.cpp's fused attention
        kernel (faster prompts, slower decode steps on 2 cores: see FLASH_ATTENTION)."""
        go_offline()
        try:
            import llama_cpp
        except ImportError as exc:
            raise ConfigError(
                "the llamacpp engine needs llama-cpp-python: pip install 'extractor[llamacpp]' "
                "(it compiles llama.cpp, about 10 minutes)"
            ) from exc
        from transformers import AutoTokenizer

        self.source = source or resolve_model(model)
        if self.source.gguf is None:
            raise ConfigError(f"the llamacpp engine runs GGUF files; {self.source.checkpoint} is a transformers folder")
        lora = None
        if self.source.adapter is not None:
            from extractor.engines.gguf_lora import lora_gguf

            lora = str(lora_gguf(self.source.adapter, self.source.tokenizer_path))
        self.model_id = self.source.model_id
        self.schema_fingerprint = self.source.schema_fingerprint
        self.fingerprint = engine_fingerprint(self.source, requantise, flash_attention)
        weights = cpu_weights(self.source.gguf, self.source.sha256) if requantise else self.source.gguf
        self.jump_forward = jump_forward
        threads = threads or len(os.sched_getaffinity(0))
        try:
            self.llama = load_llama(  # weights, vocabulary and adapter; decoding has its own context
                weights,
                n_ctx=256,
                n_batch=256,
                n_threads=threads,
                n_threads_batch=threads,
                lora_path=lora,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:  # llama.cpp says only "failed to load model"
            raise ConfigError(
                f"llama.cpp cannot run {self.source.gguf.name} (architecture {gguf_architecture(self.source.gguf)!r}, "
                f"llama-cpp-python {llama_cpp.__version__}): {exc}; try --engine transformers"
            ) from exc
        self.max_context_tokens = context_tokens
        # Documents handed over at once: one when answers decode one at a time (each row is emitted and
        # committed as soon as it is done), else enough to keep the slots busy as answers end.
        self.batch_window = 1 if slots == 1 else 2 * slots
        self._sequences = SequenceBatch(
            self.llama,
            slots=slots,
            context_tokens=context_tokens,
            threads=threads,
            mask_vocab=self._ll_tokenizer.vocab_size,
            lora_adapter=self.llama._lora_adapter,
            flash_attention=flash_attention,
        )
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.source.tokenizer_path))  # chat template, offsets
        self._has_chat_template = has_chat_template(self.tokenizer)
        self._eos = int(self.llama.token_eos())

    # -- the Engine protocol ------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return count_tokens(self.tokenizer, text)

    def truncate(self, text: str, max_tokens: int) -> str:
        return truncate(self.tokenizer, text, max_tokens)

    def generate(
        self, prompts: Sequence[Prompt], constraints: Sequence[Constraint | None], max_new_tokens: int
    ) -> list[Generation]:
        ids = [self._prompt_ids(p) for p in prompts]
        for prompt_ids in ids:
            if len(prompt_ids) + max_new_tokens > self.max_context_tokens:
                raise GenerationFailed(
                    f"prompt ({len(prompt_ids)} tokens) and answer budget ({max_new_tokens}) exceed the llama.cpp "
                    f"context of {self.max_context_tokens} tokens"
                )
        compiled = [self._matchers.compile(c) for c in constraints]
        answers = self._sequences.decode(ids, [c.matcher for c in compiled], max_new_tokens, self._greedy)
        results = []
        for prompt_ids, answer, c in zip(ids, answers, compiled, strict=True):
            text = self._text(answer.ids)
            pieces = [self._token_strings[t] for t in answer.ids]
            results.append(
                Generation(
                    text=text,
                    prompt_tokens=len(prompt_ids),
                    completion_tokens=len(answer.ids),
                    finished=answer.complete,
                    token_ids=tuple(answer.ids),
                    token_logprobs=tuple(answer.logprobs),
                    forward_passes=answer.forward_passes,
                    token_ends=token_ends(answer.ids, text, pieces, self._text),
                    fallback_reason=c.fallback_reason,
                )
            )
        return results

    def _text(self, ids: list[int]) -> str:
        return str(self.llama.detokenize(ids).decode("utf-8", errors="replace"))

    def _prompt_ids(self, prompt: Prompt) -> list[int]:
        # The text both engines render; a chat template carries its own special tokens.
        text = render(self.tokenizer, prompt).encode("utf-8")
        if self._has_chat_template:
            return list(self.llama.tokenize(text, add_bos=False, special=True))
        return list(self.llama.tokenize(text, add_bos=True, special=False))

    @functools.cached_property
    def _ll_tokenizer(self) -> Any:
        import llguidance.llamacpp

        return llguidance.llamacpp.lltokenizer_from_vocab(self.llama._model.vocab)

    @functools.cached_property
    def _matchers(self) -> MatcherFactory:
        return MatcherFactory(self._ll_tokenizer)

    @functools.cached_property
    def _token_strings(self) -> list[str]:
        return [
            self.llama.detokenize([i], special=False).decode("utf-8", errors="replace")
            for i in range(self.llama.n_vocab())
        ]

    @functools.cached_property
    def _greedy(self) -> Greedy:
        return Greedy(self._token_strings, ListGuard(self._token_strings), self._eos, self.jump_forward)


def gguf_architecture(path: Any) -> str:
    """The `general.architecture` a GGUF file declares ("?" when it cannot be read)."""
    try:
        from gguf import GGUFReader

        field = GGUFReader(str(path)).fields["general.architecture"]
        return bytes(field.parts[field.data[0]]).decode("utf-8", errors="replace")
    except Exception:  # not a GGUF at all, or truncated: the caller's message says the rest
        return "?"


def engine_fingerprint(
    source: ModelSource, requantise: bool = REQUANTISE, flash_attention: bool = FLASH_ATTENTION
) -> str:
    """The model's fingerprint, and the kernels and weight layout that run it: other arithmetic,
    other answers (near ties can fall the other way)."""
    layout = cpu_weights_type(source.gguf) if requantise and source.gguf is not None else None
    kernels = (f"-{layout.lower()}" if layout else "") + ("-fa" if flash_attention else "")
    return model_fingerprint(source) + "/llamacpp" + kernels


def lazy_engine(model: str | None = None, **options: Any) -> LazyEngine:
    source = resolve_model(model)
    return LazyEngine(
        model_id=source.model_id,
        fingerprint=engine_fingerprint(
            source, options.get("requantise", REQUANTISE), options.get("flash_attention", FLASH_ATTENTION)
        ),
        schema_fingerprint=source.schema_fingerprint,
        build=lambda: LlamaCppEngine(source=source, **options),
    )
