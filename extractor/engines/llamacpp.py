"""llama.cpp engine (`--engine llamacpp`): the GGUF file itself, quantised weights and all, through
`llama-cpp-python`, each answer held to its grammar by llguidance.

llama-cpp-python compiles llama.cpp from source (about 9 minutes here), so it is an optional extra:
`pip install 'extractor[llamacpp]'`. One context decodes one sequence at a time (its high-level
API has no batching); the shared prompt prefix is kept in the KV cache between documents (only the
tokens after it are evaluated), and tokens the grammar forces are evaluated in one call
(jump-forward), as in the transformers engine. The prompt is rendered with the model's chat
template from the GGUF's tokenizer (written out once as tokenizer files; the weights are never
converted), then tokenised by llama.cpp.

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
from extractor.engines.list_guard import JsonListScanner, ListGuard
from extractor.engines.model_store import ModelSource, go_offline, model_fingerprint, resolve_model
from extractor.errors import ConfigError, GenerationFailed
from extractor.types import Generation


class LlamaCppEngine:
    batch_window = 1  # decodes one prompt at a time: rows are emitted (and committed) as each is done

    def __init__(
        self,
        model: str | None = None,
        *,
        source: ModelSource | None = None,
        threads: int | None = None,
        context_tokens: int = 4096,
        jump_forward: bool = True,
        **_ignored: Any,
    ):
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

            lora = str(lora_gguf(self.source.adapter, self.source.path))
        self.model_id = self.source.model_id
        self.schema_fingerprint = self.source.schema_fingerprint
        self.fingerprint = model_fingerprint(self.source) + "/llamacpp"  # other kernels, other answers
        self.jump_forward = jump_forward
        threads = threads or len(os.sched_getaffinity(0))
        try:
            self.llama = llama_cpp.Llama(
                str(self.source.gguf),
                n_ctx=context_tokens,
                n_batch=512,
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
        results = []
        for prompt, constraint in zip(prompts, constraints, strict=True):
            ids = self._prompt_ids(prompt)
            if len(ids) + max_new_tokens > self.max_context_tokens:
                raise GenerationFailed(
                    f"prompt ({len(ids)} tokens) and answer budget ({max_new_tokens}) exceed the llama.cpp "
                    f"context of {self.max_context_tokens} tokens"
                )
            compiled = self._matchers.compile(constraint)
            try:
                answer, logprobs, passes, complete = self._decode(ids, compiled.matcher, max_new_tokens)
            except RuntimeError as exc:  # llama_decode failed on this sequence (e.g. its KV cache slot)
                self.llama.n_tokens = 0  # the cache holds a half-evaluated prompt: start afresh
                raise GenerationFailed(f"llama.cpp failed on this prompt: {exc}") from exc
            text = self._text(answer)
            pieces = [self._token_strings[t] for t in answer]
            results.append(
                Generation(
                    text=text,
                    prompt_tokens=len(ids),
                    completion_tokens=len(answer),
                    finished=complete,
                    token_ids=tuple(answer),
                    token_logprobs=tuple(logprobs),
                    forward_passes=passes,
                    token_ends=token_ends(answer, text, pieces, self._text),
                    fallback_reason=compiled.fallback_reason,
                )
            )
        return results

    # -- decoding -----------------------------------------------------------------------------

    def _decode(self, prompt: list[int], matcher: Any, max_new_tokens: int) -> tuple[list[int], list[float], int, bool]:
        import llguidance.numpy
        import numpy as np
        import torch

        llama = self.llama
        # Keep what the KV cache already holds of this prompt (the shared instructions), evaluate the rest.
        keep = llama.longest_token_prefix(llama._input_ids.tolist(), prompt)
        keep = min(keep, len(prompt) - 1)  # at least one token is evaluated, so its logits are fresh
        llama.n_tokens = keep
        llama.eval(prompt[keep:])
        bitmask = llguidance.numpy.allocate_token_bitmask(1, self._ll_tokenizer.vocab_size)
        scanner = JsonListScanner()
        answer: list[int] = []
        logprobs: list[float] = []
        passes, complete = 1, False
        n_vocab = llama.n_vocab()
        while len(answer) < max_new_tokens:
            scores = np.array(np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(n_vocab,)), dtype=np.float32)
            if matcher is not None:
                llguidance.numpy.fill_next_token_bitmask(matcher, bitmask, 0)
                llguidance.numpy.apply_token_bitmask_inplace(scores, bitmask[0])
            self._guard.restrict(scanner, torch.from_numpy(scores))  # in place, same memory
            token = int(np.argmax(scores))
            if token == self._eos:
                complete = matcher is None or matcher.is_accepting()
                break
            top = scores.max()
            logprobs.append(float(scores[token] - top - np.log(np.exp(scores - top).sum())))
            new = [token]
            if matcher is not None:
                if not matcher.consume_token(token):
                    raise GenerationFailed(f"grammar refused token {token} it allowed: {matcher.get_error()}")
                if self.jump_forward:
                    room = max_new_tokens - len(answer) - 1
                    forced = [t for t in matcher.compute_ff_tokens() if t != self._eos][: max(room, 0)]
                    if forced and matcher.consume_tokens(forced):
                        new.extend(forced)
                        logprobs.extend([0.0] * len(forced))
            answer.extend(new)
            for t in new:
                scanner.feed(self._token_strings[t])
            if matcher is not None and matcher.is_stopped():
                complete = True
                break
            if len(answer) >= max_new_tokens:
                break
            llama.eval(new)
            passes += 1
        return answer, logprobs, passes, complete

    def _text(self, ids: list[int]) -> str:
        return str(self.llama.detokenize(ids).decode("utf-8", errors="replace"))

    def _prompt_ids(self, prompt: Prompt) -> list[int]:
        # The text both engines render; a chat template carries its own special tokens.
        text = render(self.tokenizer, prompt).encode("utf-8")
        if self._has_chat_template:
            return list(self.llama.tokenize(text, add_bos=False, special=True))
        return list(self.llama.tokenize(text, add_bos=True, special=False))

    def _grammar(self, constraint: Constraint) -> str:
        return self._matchers.grammar(constraint)

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
    def _guard(self) -> ListGuard:
        return ListGuard(self._token_strings)


def gguf_architecture(path: Any) -> str:
    """The `general.architecture` a GGUF file declares ("?" when it cannot be read)."""
    try:
        from gguf import GGUFReader

        field = GGUFReader(str(path)).fields["general.architecture"]
        return bytes(field.parts[field.data[0]]).decode("utf-8", errors="replace")
    except Exception:  # not a GGUF at all, or truncated: the caller's message says the rest
        return "?"


def lazy_engine(model: str | None = None, **options: Any) -> LazyEngine:
    source = resolve_model(model)
    return LazyEngine(
        model_id=source.model_id,
        fingerprint=model_fingerprint(source) + "/llamacpp",
        schema_fingerprint=source.schema_fingerprint,
        build=lambda: LlamaCppEngine(source=source, **options),
    )
