from __future__ import annotations

from pathlib import Path

from extractor import Extractor, extract
from extractor.engines.fake import FakeEngine
from tests import documents
from tests.small_schema import Small
from tests.test_pipeline import GOOD_ANSWER


def test_extract_returns_rows_and_reachable_errors(tiny_model_dir: Path, tmp_path: Path) -> None:
    from extractor.config import RunConfig

    documents.invoice(tmp_path)
    documents.write(tmp_path / "broken.pdf", b"%PDF-1.3 nope")
    frame = extract(tmp_path, schema=Small, model=tiny_model_dir, config=RunConfig(max_new_tokens=700))
    assert len(frame) == 1 and frame.loc[0, "source_path"].endswith("invoice.pdf")
    assert set(Small.model_fields) <= set(frame.columns)
    errors = frame.attrs["errors"]
    assert errors["error_type"].tolist() == ["CorruptInput"]


def test_extractor_keeps_its_engine_across_calls(tmp_path: Path) -> None:
    engine = FakeEngine(respond=lambda prompt: GOOD_ANSWER)
    ex = Extractor("invoice", engine=engine)
    first = ex.extract(documents.invoice(tmp_path, "a.pdf"))
    second = ex.run([documents.email_with_pdf(tmp_path, "b.eml")])
    assert len(first) == 1 and second.ok == 1 and ex.engine is engine
    assert engine.batch_sizes == [1, 1]
    assert second.rows().loc[0, "total"] == first.loc[0, "total"]
