"""Numbers are decoded as models write them: bare JSON numbers, bounded under both constraints
(no exponents, bounded integer and fraction digits), and typed into the field's own type."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, Field

from extractor.engines.base import Constraint
from extractor.extract.answer import parse_answer, validate
from extractor.extract.constraint import generation_schema
from extractor.extract.grammar import grounded_grammar
from extractor.finetune.targets import answer_text
from extractor.schema import load_schema
from extractor.types import Generation


class Amounts(BaseModel):
    total: Decimal | None = Field(None, max_digits=8, decimal_places=2, json_schema_extra={"extractive": True})
    rate: float | None = Field(None, json_schema_extra={"extractive": False})
    count: int | None = None


TEXT = "Invoice 7\nTotal due: 1.234,50 EUR\nCredit -12\n3 items, 0 returned"


def _accepts(engine: Any, constraint: Constraint, answer: str) -> bool:
    matcher = engine._matchers.compile(constraint).matcher
    tokens = engine._ll_tokenizer.tokenize_str(answer)
    return all(matcher.consume_token(t) for t in tokens) and matcher.is_accepting()


def _answer(total: str, rate: str = "null", count: str = "null") -> str:
    return f'{{"total": {total}, "rate": {rate}, "count": {count}}}'


@pytest.mark.parametrize("decoding", ["json", "grounded"])
@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        (_answer("1234.5", "0.075", "3"), True),
        (_answer("-12", "12", "0"), True),
        (_answer("1e5"), False),  # no exponents
        (_answer("12.345"), False),  # two decimal places at most
        (_answer("1234567.5"), False),  # six integer digits at most (max_digits=8, 2 places)
        (_answer("null", "0.1234567"), False),  # six fraction digits for a float
        (_answer("null", "null", "1" * 19), False),  # eighteen digits for an integer
        (_answer("null", '"0.5"'), False),  # an abstractive number is never quoted
    ],
)
def test_numbers_are_bare_and_bounded(tiny_engine, decoding: str, answer: str, ok: bool) -> None:  # type: ignore[no-untyped-def]
    schema = load_schema(Amounts)
    if decoding == "json":
        constraint = Constraint(json_schema=generation_schema(schema))
    else:
        constraint = Constraint(lark=grounded_grammar(schema, TEXT))
    assert _accepts(tiny_engine, constraint, answer) is ok


def test_grounded_numbers_may_also_be_copied_as_printed(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    constraint = Constraint(lark=grounded_grammar(load_schema(Amounts), TEXT))
    assert _accepts(tiny_engine, constraint, _answer('"1.234,50"'))
    assert not _accepts(tiny_engine, constraint, _answer('"9.999,99"'))  # not printed
    json_constraint = Constraint(json_schema=generation_schema(load_schema(Amounts)))
    assert not _accepts(tiny_engine, json_constraint, _answer('"1234.50"'))


@pytest.mark.parametrize(
    ("total", "ok"),
    [("1234.5", True), ("1234.50", True), ("-12", True), ("12", True), ("7", True), ("1234.55", False), ("99", False)],
)
def test_a_grounded_bare_number_is_one_the_text_prints(tiny_engine, total: str, ok: bool) -> None:  # type: ignore[no-untyped-def]
    constraint = Constraint(lark=grounded_grammar(load_schema(Amounts), TEXT))
    assert _accepts(tiny_engine, constraint, _answer(total)) is ok


def test_numbers_longer_than_any_field_are_not_offered(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    text = TEXT + "\nIBAN DE44 5001 0517 5407 3249 31, ref 1234567890123456789012345678901234"
    constraint = Constraint(lark=grounded_grammar(load_schema(Amounts), text))  # builds (no decimal overflow)
    assert _accepts(tiny_engine, constraint, _answer("1234.5"))


def test_bare_numbers_are_typed_exactly() -> None:
    generation = Generation(text=_answer("1234.10", "0.1", "3"), prompt_tokens=1, completion_tokens=1, finished=True)
    data = validate(parse_answer(generation), load_schema(Amounts))
    assert data == {"total": Decimal("1234.10"), "rate": 0.1, "count": 3}
    assert str(data["total"]) == "1234.10"  # the digits written, not a float's approximation


def test_training_targets_write_numbers_bare() -> None:
    schema = load_schema(Amounts)
    label = {"total": "1234.50", "rate": "0.5", "count": 3}
    assert answer_text(schema, label, TEXT, "json") == _answer("1234.5", "0.5", "3")
    # Grounded: printed numbers are copied as printed; the abstractive rate is a bare number.
    assert answer_text(schema, label, TEXT, "grounded") == _answer('"1.234,50"', "0.5", '"3"')


def test_grounded_dates_may_be_copied_or_written_in_iso_form(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    class Dated(BaseModel):
        issued: dt.date | None = None

    text = "Nr. 471102 vom\n05.06.2018\nBestellung 2018-471331"
    constraint = Constraint(lark=grounded_grammar(load_schema(Dated), text))
    assert _accepts(tiny_engine, constraint, '{"issued": "05.06.2018"}')  # as printed
    assert _accepts(tiny_engine, constraint, '{"issued": "2018-06-05"}')  # ISO, as the prompt asks
    assert not _accepts(tiny_engine, constraint, '{"issued": "2018-13-05"}')  # not a date, not printed
    assert not _accepts(tiny_engine, constraint, '{"issued": "2019-01-01"}')  # a date the text does not print
    assert not _accepts(tiny_engine, constraint, '{"issued": "5 June 2018"}')  # neither form


def test_a_printed_date_is_trained_in_the_iso_form_the_grammar_allows(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    from extractor.finetune.targets import TargetStats

    class Dated(BaseModel):
        issued: dt.date | None = None
        due: dt.date | None = None

    schema = load_schema(Dated)
    text = "Nr. 471102 vom\n05.06.2018\nBestellung 2018-471331"
    stats = TargetStats()
    answer = answer_text(schema, {"issued": "2018-06-05", "due": "2018-07-05"}, text, "grounded", stats)
    assert answer == '{"issued": "2018-06-05", "due": "2018-07-05"}'
    assert stats.not_in_document == ["due"]  # a date the text does not print: kept, and counted
    constraint = Constraint(lark=grounded_grammar(schema, text))
    assert _accepts(tiny_engine, constraint, '{"issued": "2018-06-05", "due": null}')


def test_an_iso_date_is_grounded_where_the_document_prints_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from extractor.config import RunConfig
    from extractor.engines.fake import FakeEngine
    from extractor.pipeline import run

    class Dated(BaseModel):
        issued: dt.date | None = None

    path = tmp_path / "invoice.txt"
    path.write_text("Nr. 471102 vom\n05.06.2018\nBestellung 2018-471331", encoding="utf-8")
    engine = FakeEngine(respond=lambda prompt: '{"issued": "2018-06-05"}')
    result = run([path], load_schema(Dated), engine, RunConfig(decoding="grounded"))
    record = result.records[0]
    assert record.data == {"issued": dt.date(2018, 6, 5)}
    (evidence,) = record.evidence
    assert evidence.grounded and evidence.text == "05.06.2018" and evidence.match == "normalised"
