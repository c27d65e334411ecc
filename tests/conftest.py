"""Shared fixtures: a tiny randomly initialised model (built in seconds), documents made by code,
and a guard that fails any test which opens a network connection."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# A bug in extractor's own parsing code raises (ParserBug) instead of becoming a quiet error row.
os.environ.setdefault("EXTRACTOR_STRICT", "1")
# Models pulled on this machine (`extractor models pull`) would change what a run answers with by
# default; the tests see an empty models folder unless a test makes one.
os.environ["EXTRACTOR_MODELS_DIR"] = tempfile.mkdtemp(prefix="extractor-test-models-")
os.environ["EXTRACTOR_ADAPTERS_DIR"] = tempfile.mkdtemp(prefix="extractor-test-adapters-")  # likewise adapters

_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with a byte-level BPE tokenizer trained here: real weights format, random values."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<eos>", "<pad>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    corpus = [
        '{"invoice_number": "INV-1", "total": "12.50", "date": "2024-01-01"}',
        "Invoice number total due date customer email order refund",
        "null true false [] {}",
    ] * 20
    tok.train_from_iterator(corpus, trainer)
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>")
    hf_tok.chat_template = _CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=hf_tok.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        eos_token_id=hf_tok.eos_token_id,
        pad_token_id=hf_tok.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    path = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(path)
    hf_tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir: Path):
    from extractor.engines.transformers import TransformersEngine

    return TransformersEngine(str(tiny_model_dir))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch):
    """Any attempt to open a socket to anything fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
