from __future__ import annotations

from pathlib import Path

import pytest

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


def test_the_api_loads_no_model_on_a_night_with_nothing_new(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import extractor.api
    from extractor.engines.base import LazyEngine

    inbox = tmp_path / "inbox"
    documents.invoice(inbox, "a.pdf")
    builds: list[str] = []

    def nightly() -> Extractor:
        def build() -> FakeEngine:
            builds.append("built")
            return FakeEngine(respond=lambda prompt: GOOD_ANSWER)

        fake = FakeEngine()
        lazy = LazyEngine(fake.model_id, fake.fingerprint, fake.schema_fingerprint, build)
        monkeypatch.setattr(extractor.api, "lazy_engine", lambda name, model: lazy)  # what the model resolves to
        return Extractor("invoice")  # as a user writes it

    first = nightly().run([inbox], out=tmp_path / "tables")
    assert first.ok == 1 and builds == ["built"]
    quiet = nightly()
    second = quiet.run([inbox], out=tmp_path / "tables")  # the next night: nothing new
    assert second.records == [] and second.plan is not None and second.plan.skipped == 1
    assert builds == ["built"]  # no second model load
    (inbox / "b.txt").write_text("Invoice INV-2, total 12.00 EUR", encoding="utf-8")
    third = quiet.run([inbox], out=tmp_path / "tables")
    assert third.ok == 1 and builds == ["built", "built"]
    quiet.run([inbox / "b.txt"])  # later calls reuse the engine that was loaded
    assert builds == ["built", "built"]
