"""The whole corpus of real public documents (data/real/, a few hundred files nobody here wrote)
through `extractor run` with each shipped schema: every file ends as a row or an error row, the run
never aborts, exits 0 or 1, and every document's grounded grammar compiles against the embedded
model's real vocabulary (or falls back to the JSON Schema: counted, and held under a stated bound).
Where a source ships expected output (e-mail libraries' tests: headers and attachments), the
parsed envelope is compared with it field by field.

The engine answers with the smallest valid record after compiling each constraint exactly as the
real engines do (engines/constraints.py), so the test is about parsing, grammars and the sink, not
about what a model makes of the documents, and it runs in minutes.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import extractor
from extractor.cli import app
from extractor.engines.base import Constraint, LazyEngine
from extractor.engines.constraints import MatcherFactory
from extractor.engines.fake import FakeEngine
from extractor.errors import GenerationFailed, InputError
from extractor.extract import is_fallback
from extractor.parse import parse_file
from extractor.schema import FieldSpec, SchemaInfo, load_schema
from tests.real_corpus import REAL, corpus_files, expected_emails, requires_corpus

pytestmark = [requires_corpus, pytest.mark.slow]

SCHEMAS = ("invoice", "customer_email", "project_report")
# Grounded grammars are built to compile for any text (extract/grammar.py); a fallback is a
# regression to look at, but not a lost document. At most this share of documents may fall back.
MAX_FALLBACK_SHARE = 0.01
# Share of the sources' stated envelope values the parser must reproduce.
MIN_ENVELOPE_AGREEMENT = 0.95


@functools.cache
def _matchers() -> MatcherFactory:
    import llguidance.hf
    from transformers import AutoTokenizer

    from extractor.engines.model_store import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model(None).path))
    return MatcherFactory(llguidance.hf.from_tokenizer(tokenizer))


def _smallest(spec: FieldSpec) -> Any:
    if spec.kind == "object":
        return {f.name: _smallest(f) for f in spec.fields}
    if spec.nullable:
        return None
    return {"list": [], "choice": spec.choices[0] if spec.choices else None, "boolean": False}.get(spec.kind)


class CompilingEngine(FakeEngine):
    """Compiles every constraint against the embedded model's vocabulary, as the real engines do,
    and answers with the smallest valid record; keeps each compile's time and text length."""

    def __init__(self, schema: SchemaInfo):
        answer = json.dumps({f.name: _smallest(f) for f in schema.fields})
        super().__init__(respond=lambda prompt: answer, refuse=self._compile, model_id="compiling-fake")
        self.compiles: list[tuple[int, float]] = []

    def _compile(self, constraint: Constraint) -> str | None:
        started = time.perf_counter()
        try:
            _matchers().compile(Constraint(lark=constraint.lark) if constraint.lark else constraint)
            return None
        except GenerationFailed as exc:
            return str(exc)
        finally:
            self.compiles.append((len(constraint.lark or ""), time.perf_counter() - started))


@pytest.mark.parametrize("schema_name", SCHEMAS)
def test_every_real_document_is_a_row_or_an_error_row(
    schema_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import extractor.engines.base as base

    schema = load_schema(schema_name)
    engine = CompilingEngine(schema)
    recipe = LazyEngine(
        model_id=engine.model_id, fingerprint="compiling-fake", schema_fingerprint=None, build=lambda: engine
    )
    monkeypatch.setattr(base, "lazy_engine", lambda *args, **kwargs: recipe)
    out = tmp_path / "out"
    # OCR once (invoice); the other schemas read the same text layers, so they skip the scans' OCR.
    ocr = "--ocr" if schema_name == "invoice" else "--no-ocr"
    result = CliRunner().invoke(
        app,
        ["run", str(REAL), "--schema", schema_name, "--out", str(out), "--quiet", ocr, "--parse-timeout", "120"],
        catch_exceptions=False,
    )
    assert result.exit_code in (0, 1), result.output
    files = {str(p) for p in corpus_files()}
    rows = extractor.read(out, schema_name)
    errors = extractor.read(out, schema_name, errors=True)
    seen = list(rows["source_path"]) + list(errors["source_path"])
    assert len(seen) == len(set(seen)), "a document was written twice"
    assert set(seen) >= files, f"documents lost: {sorted(files - set(seen))[:5]}"
    # The corpus folder also holds its manifest, README and expectations: those are inputs too.
    assert set(seen) - files <= {str(p) for p in REAL.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert set(errors["stage"]) <= {"parse"}, errors[errors["stage"] != "parse"][["source_path", "message"]]
    fallbacks = int(rows["decoding"].map(is_fallback).sum())
    assert fallbacks <= MAX_FALLBACK_SHARE * len(rows), rows[rows["decoding"].map(is_fallback)]["decoding"].tolist()
    assert engine.compiles, "no grammar was compiled"


def _addresses(values: list[str]) -> list[str]:
    return [v.lower() for v in values]


def _same_instant(got: str | None, want: str | None) -> bool:
    if want is None:
        return got is None
    try:
        return got is not None and dt.datetime.fromisoformat(got) == dt.datetime.fromisoformat(want)
    except ValueError:
        return False


def _compare(meta: dict[str, Any], want: dict[str, Any]) -> dict[str, bool]:
    checks: dict[str, bool] = {}
    if "subject" in want:
        checks["subject"] = (meta.get("subject") or "") == want["subject"]
    for key in ("from", "to", "cc"):
        if key in want:
            checks[key] = _addresses(meta.get(f"{key}_addresses", [])) == _addresses(want[key])
    if "date" in want:
        checks["date"] = _same_instant(meta.get("date_iso"), want["date"])
    if "message_id" in want:
        checks["message_id"] = (meta.get("message_id") or "").strip("<>") == want["message_id"].strip("<>")
    # The sources list a message's own attachments; ours also lists what attached messages hold, as
    # "outer/inner" (names never hold "/": it is replaced), and counts unnamed parts apart.
    own = [name for name in meta.get("attachments", []) if "/" not in name]
    if "attachments" in want:
        checks["attachments"] = sorted(own) == sorted(want["attachments"])
    if "attachment_count" in want:
        checks["attachment_count"] = len(own) + meta.get("unnamed_parts", 0) == want["attachment_count"]
    return checks


def test_envelopes_agree_with_what_the_sources_expect() -> None:
    agree = total = 0
    misses = []
    for want in expected_emails():
        try:
            meta = dict(parse_file(REAL / want["path"]).metadata)
        except InputError as exc:
            meta = {"error": str(exc)}
        for key, ok in _compare(meta, want).items():
            total += 1
            agree += ok
            if not ok:
                misses.append((want["path"], key))
    assert total > 100
    assert agree >= MIN_ENVELOPE_AGREEMENT * total, f"{agree}/{total} agree; misses: {misses}"


def test_envelope_comparison_can_fail() -> None:
    """The comparison is not vacuous: a wrong subject, address, date or attachment is a miss."""
    meta = {"subject": "Hi", "from_addresses": ["a@x.org"], "date_iso": "2020-01-01T10:00:00+01:00"}
    want = {"subject": "Hi!", "from": ["b@x.org"], "date": "2020-01-01T09:00:00+00:00", "attachments": ["x.pdf"]}
    assert _compare(meta, want) == {"subject": False, "from": False, "date": True, "attachments": False}
    assert parsedate_to_datetime("Wed, 27 Sep 2017 10:48:51 +0000").isoformat() == "2017-09-27T10:48:51+00:00"
