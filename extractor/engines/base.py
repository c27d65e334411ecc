"""The engine protocol: what the extract stage needs from a language model, and nothing more.

An engine turns chat prompts into JSON text that matches a constraint: a JSON Schema, or a Lark
grammar (grounded decoding). An engine that cannot honour Lark grammars must say so at once.
transformers, llama.cpp or vLLM can sit behind it. Engines are built by the caller and passed in;
weights load once, in the constructor, and caches (compiled grammars) belong to the engine.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from extractor.errors import ConfigError
from extractor.types import Generation

Message = Mapping[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}
Prompt = Sequence[Message]


@dataclass(frozen=True)
class Constraint:
    """What an answer must match: a JSON Schema, or a grammar in llguidance's Lark dialect
    (grounded decoding builds one per document). `fallback` is used when this one cannot be
    compiled for the engine's tokenizer (grounded decoding falls back to the JSON Schema)."""

    json_schema: Mapping[str, Any] | None = None
    lark: str | None = None
    fallback: Constraint | None = None

    def __post_init__(self) -> None:
        if (self.json_schema is None) == (self.lark is None):
            raise ValueError("a Constraint holds exactly one of json_schema or lark")


@runtime_checkable
class Engine(Protocol):
    model_id: str
    max_context_tokens: int
    # The fingerprint of the schema a fine-tuned model was trained for; None when it serves any.
    schema_fingerprint: str | None
    # Changes whenever the answers could (other weights, another adapter): incremental runs
    # extract a document again when this changes.
    fingerprint: str

    # Optional: `batch_window`, the most documents worth handing over at once (an engine that
    # decodes one prompt at a time says 1, and the pipeline hands it one document at a time).

    def generate(
        self, prompts: Sequence[Prompt], constraints: Sequence[Constraint], max_new_tokens: int
    ) -> list[Generation]:
        """One answer per prompt, each held to its own constraint, in order. Batch-first: one prompt
        is a batch of one."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of `text` that fits in `max_tokens` tokens."""
        ...


@dataclass(frozen=True)
class LazyEngine:
    """An engine that is built only if a run has documents to extract. What it will be is known
    before its weights load, so a nightly run with nothing new never loads a model."""

    model_id: str
    fingerprint: str
    schema_fingerprint: str | None
    build: Callable[[], Engine]
    # (engine name, model, options) as given to `lazy_engine`: enough to build the same engine in
    # another process or on another node (the Ray runner does), resolving the model there.
    spec: tuple[str, str | None, dict[str, Any]] | None = None


# name -> "module:Class"; resolved on first use, so an engine whose library is missing costs nothing.
ENGINES = {
    "transformers": "extractor.engines.transformers:TransformersEngine",
    "llamacpp": "extractor.engines.llamacpp:LlamaCppEngine",
    "fake": "extractor.engines.fake:FakeEngine",
}


AUTO = "auto"


def choose_engine(model: str | None) -> str:
    """What `--engine auto` (the default) runs: llama.cpp on a machine without a CUDA GPU when
    llama-cpp-python is installed and the model is a GGUF (the embedded model, with or without a
    fine-tuned adapter): it decodes ~2.3x faster than the transformers engine on CPU
    (bench/throughput.py). Otherwise transformers: on a GPU, for plain checkpoints, or without
    llama-cpp-python."""
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        return "transformers"
    import torch

    from extractor.engines.model_store import resolve_model

    if torch.cuda.is_available() or resolve_model(model).gguf is None:
        return "transformers"
    return "llamacpp"


def engine_class(name: str) -> type:
    try:
        target = ENGINES[name]
    except KeyError:
        raise ConfigError(f"unknown engine {name!r}; available: {', '.join(ENGINES)}") from None
    module_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"engine {name!r} needs a library that is not installed: {exc}") from exc
    return getattr(module, cls_name)  # type: ignore[no-any-return]


def lazy_engine(name: str, model: str | None, **options: Any) -> LazyEngine:
    """The engine `name` (or `auto`) for `model`, loaded only when `build()` is called."""
    if name == AUTO:
        name = choose_engine(model)
    if name not in ENGINES or name == "fake":
        raise ConfigError(f"unknown engine {name!r}; available: {', '.join(n for n in ENGINES if n != 'fake')}")
    module_name = ENGINES[name].partition(":")[0]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"engine {name!r} needs a library that is not installed: {exc}") from exc
    engine: LazyEngine = module.lazy_engine(model, **options)
    return dataclasses.replace(engine, spec=(name, model, dict(options)))


def token_ends(
    ids: Sequence[int], text: str, pieces: Sequence[str], decode: Callable[[list[int]], str]
) -> tuple[int, ...]:
    """Where each answer token ends in `text`. `pieces` are the tokens decoded one by one; when they
    do not add up to `text` (a character split across tokens), prefixes are decoded instead."""
    if "".join(pieces) == text:
        ends, at = [], 0
        for piece in pieces:
            at += len(piece)
            ends.append(at)
        return tuple(ends)
    return tuple(len(decode(list(ids[: k + 1]))) for k in range(len(ids)))
