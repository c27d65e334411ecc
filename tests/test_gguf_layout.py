"""The llama.cpp engine runs the embedded Q4_1 GGUF as a Q8_0 copy made once (engines/gguf_layout.py):
the copy is a real Q8_0 file of the same model, made once and reused, and its next-token
distribution is the shipped file's up to rounding. Files with a fast path run as they are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from extractor.engines.gguf_layout import cpu_weights, cpu_weights_type, file_type
from extractor.engines.model_store import embedded_gguf, file_sha256, resolve_model

Q4_1, Q8_0 = 3, 7  # llama.cpp's general.file_type values


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EXTRACTOR_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_embedded_q4_1_is_converted_once_to_q8_0(cache: Path) -> None:
    pytest.importorskip("llama_cpp")
    shipped = embedded_gguf()
    assert file_type(shipped) == Q4_1
    assert cpu_weights_type(shipped) == "Q8_0"
    copy = cpu_weights(shipped, file_sha256(shipped))
    assert copy.is_relative_to(cache) and file_type(copy) == Q8_0
    assert cpu_weights_type(copy) is None  # Q8_0 has a fast path: runs as it is
    made = copy.stat().st_mtime_ns
    assert cpu_weights(shipped, file_sha256(shipped)) == copy and copy.stat().st_mtime_ns == made
    assert [p.name for p in copy.parent.iterdir()] == [copy.name]  # no temporary file left behind


def test_not_a_gguf_runs_as_is(tmp_path: Path) -> None:
    junk = tmp_path / "broken.gguf"
    junk.write_bytes(b"GGUF\x03\x00\x00\x00" + os.urandom(64))
    assert file_type(junk) is None and cpu_weights_type(junk) is None
    assert cpu_weights(junk, "0" * 64) == junk


@pytest.mark.slow
def test_q8_0_copy_gives_the_shipped_models_next_tokens(cache: Path) -> None:
    """Same prompt, both files: the most likely next tokens agree and the log-probabilities stay
    within rounding of the 4-bit values."""
    pytest.importorskip("llama_cpp")
    import numpy as np

    from extractor.engines.llamacpp import LlamaCppEngine, engine_fingerprint, lazy_engine

    text = "Invoice INV-2024-0042 from Acme Tools GmbH, total EUR 1.234,50. The invoice number is"
    logprobs = {}
    for requantise in (False, True):
        engine = LlamaCppEngine("embedded", requantise=requantise)
        ids = list(engine.llama.tokenize(text.encode(), add_bos=True))
        logits = np.asarray(engine._sequences.next_token_logits(ids), dtype=np.float64)
        logprobs[requantise] = logits - np.logaddexp.reduce(logits)
        assert engine.fingerprint == lazy_engine("embedded", requantise=requantise).fingerprint
    shipped, copy = logprobs[False], logprobs[True]
    assert list(np.argsort(-shipped)[:5]) == list(np.argsort(-copy)[:5])
    top = np.argsort(-shipped)[:50]
    assert np.max(np.abs(shipped[top] - copy[top])) < 0.5
    source = resolve_model("embedded")
    assert engine_fingerprint(source, True) != engine_fingerprint(source, False)
    assert engine_fingerprint(source, True).endswith("/llamacpp-q8_0")
