"""Loading a GGUF into llama.cpp: on a CPU with AMX (where llama.cpp's AMX kernels crash the process,
llama.cpp#20824) the weights stay in plain CPU buffers; elsewhere llama.cpp's defaults stand."""

from __future__ import annotations

import pytest

from extractor.engines import llama_load
from extractor.engines.model_store import embedded_gguf


@pytest.fixture
def llama_cpp():  # type: ignore[no-untyped-def]
    module = pytest.importorskip("llama_cpp")
    llama_load.has_amx.cache_clear()
    yield module
    llama_load.has_amx.cache_clear()


@pytest.mark.parametrize("amx", [True, False])
def test_extra_buffer_types_are_off_only_where_llama_cpp_reports_amx(
    llama_cpp, monkeypatch: pytest.MonkeyPatch, amx: bool
) -> None:
    report = b"CPU : AVX512 = 1 | AMX_INT8 = 1 | " if amx else b"CPU : AVX512 = 1 | LLAMAFILE = 1 | "
    monkeypatch.setattr(llama_cpp, "llama_print_system_info", lambda: report)
    llm = llama_load.load_llama(embedded_gguf(), vocab_only=True, verbose=False)
    assert llm.model_params.use_extra_bufts is (not amx)
    # the constructor's defaults are llama.cpp's own again afterwards
    assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is True


def test_a_failed_load_restores_the_defaults(llama_cpp, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(llama_cpp, "llama_print_system_info", lambda: b"AMX_INT8 = 1")
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"GGUF but not really")
    with pytest.raises(ValueError):
        llama_load.load_llama(bad, vocab_only=True, verbose=False)
    assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is True


@pytest.mark.slow
def test_the_embedded_model_answers_on_this_cpu(llama_cpp) -> None:
    """The crash this guards against happened in the first forward pass on an AMX Xeon."""
    llm = llama_load.load_llama(embedded_gguf(), n_ctx=256, verbose=False)
    out = llm.create_completion("The capital of France is", max_tokens=4, temperature=0.0)
    assert out["choices"][0]["text"].strip()
