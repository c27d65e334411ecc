"""The llama.cpp engine: an optional extra. Without llama-cpp-python it is a clear configuration
error; with it (marked slow: the real embedded GGUF), answers hold to the grammar like the
transformers engine's, and they agree with them on a real invoice."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from extractor.config import RunConfig
from extractor.errors import ConfigError
from extractor.pipeline import run
from extractor.schema import load_schema
from extractor.types import Status

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples" / "invoices"


def test_without_llama_cpp_python_the_engine_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from extractor.engines.llamacpp import LlamaCppEngine

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"extractor\[llamacpp\]"):
        LlamaCppEngine("embedded")


def test_an_engine_name_that_does_not_exist_is_a_config_error() -> None:
    from extractor.engines.base import lazy_engine

    with pytest.raises(ConfigError, match="unknown engine"):
        lazy_engine("vllm-on-a-toaster", None)


@pytest.mark.slow
def test_llamacpp_and_transformers_read_the_same_invoice() -> None:
    pytest.importorskip("llama_cpp")
    from extractor.engines.llamacpp import LlamaCppEngine
    from extractor.engines.transformers import TransformersEngine

    schema = load_schema("invoice")
    config = RunConfig(parse_workers=0, decoding="json")
    files = [SAMPLES / "acme-2024-0042.pdf"]
    rows = []
    for engine in (LlamaCppEngine("embedded"), TransformersEngine("embedded")):
        (record,) = run(files, schema, engine, config).records
        assert record.status is Status.OK, record.error
        rows.append(record.data)
    assert rows[0]["invoice_number"] == rows[1]["invoice_number"] == "INV-2024-0042"
    assert rows[0]["total"] == rows[1]["total"]


@pytest.mark.slow
def test_llamacpp_refuses_an_adapter_it_cannot_apply() -> None:
    pytest.importorskip("llama_cpp")
    from extractor.engines.llamacpp import LlamaCppEngine
    from extractor.engines.model_store import model_for

    schema = load_schema("invoice")
    adapter = model_for(None, schema.name, schema.fingerprint)
    if adapter is None:
        pytest.skip("no adapter shipped for the invoice schema")
    with pytest.raises(ConfigError, match="adapter"):
        LlamaCppEngine(adapter)
