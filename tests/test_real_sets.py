"""bench/real_sets: the scorer's normalisation and comparison rules, label conversion, and the
committed manifest. Fast: no model, no built corpus."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent.parent / "bench" / "real_sets"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"real_sets_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


score = _load("score")
build_sets = _load("build_sets")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  Lieferant   GmbH. ", "lieferant gmbh"),
        ("BOOK TA .K (TAMAN DAYA) SDN BHD", "book ta .k (taman daya) sdn bhd"),
        ("(Methodist/United Reformed)", "methodist/united reformed"),
        ("NO.53, JALAN SAGU 18,\nJOHOR.", "no.53, jalan sagu 18, johor"),
        ("ＡＢＣ", "abc"),  # NFKC: full-width letters
        ("...", ""),
    ],
)
def test_normalise_text(value: str, expected: str) -> None:
    assert score.normalise_text(value) == expected


def test_text_strict_and_lenient() -> None:
    # case, whitespace and edge punctuation are not errors, even strictly
    assert score.compare("text", "Lieferant GmbH", "LIEFERANT  GMBH.") == (True, True)
    # an OCR slip and a lost space: wrong strictly, right leniently
    assert score.compare("text", "BOOK TA .K (TAMAN DAYA) SDN BHD", "BOOK TA .K(TAMAN DAYA) SDN BND") == (False, True)
    # words in another order
    assert score.compare("text", "Musterstadt Versicherungsverein", "Versicherungsverein Musterstadt") == (False, True)
    # a fragment of the name is not the name, however lenient
    assert score.compare("text", "OJC MARKETING SDN BHD", "SDN BHD") == (False, False)
    assert score.compare("text", "Lieferant GmbH", "Kunde AG") == (False, False)
    assert score.compare("text", "Lieferant GmbH", None) == (False, False)


def test_ids_ignore_inner_spaces_only_leniently() -> None:
    assert score.compare("id", "SY3 7PQ", "SY37PQ") == (False, True)
    assert score.compare("id", "RE-20140519/499", "re-20140519/499") == (True, True)
    assert score.compare("id", "471102", "471103") == (False, False)


def test_numbers_within_a_cent() -> None:
    assert score.compare("number", 529.87, 529.87) == (True, True)
    assert score.compare("number", 529.87, 529.875) == (True, True)
    assert score.compare("number", 529.87, 529.89) == (False, False)
    assert score.compare("number", 963.11, "963.11") == (True, True)
    assert score.compare("number", -8.79, 8.79) == (False, False)
    assert score.compare("number", 9.0, float("nan")) == (False, False)


def test_dates() -> None:
    assert score.compare("date", "2018-03-05", dt.date(2018, 3, 5)) == (True, True)
    assert score.compare("date", "2018-03-05", pd.Timestamp("2018-03-05 13:00")) == (True, True)
    assert score.compare("date", "2018-03-05", "2018-03-05") == (True, True)
    assert score.compare("date", "2018-03-05", dt.date(2018, 5, 3)) == (False, False)
    assert score.compare("date", "2018-03-05", "05/03/2018") == (False, False)


def test_field_kind() -> None:
    assert score.field_kind("total", [9.0, 12, None]) == "number"
    assert score.field_kind("date", ["2018-01-02", "2019-12-31"]) == "date"
    assert score.field_kind("postcode", ["SY3 7PQ"]) == "id"
    assert score.field_kind("company", ["ACME"]) == "text"


def test_score_table(tmp_path: Path) -> None:
    labels = [
        {"file": "docs/a.jpg", "expected": {"company": "ACME SDN BHD", "date": "2018-01-02", "total": 9.0}},
        {"file": "docs/b.jpg", "expected": {"company": "Kedai Runcit", "total": 4.5}},  # no date labelled
        {"file": "docs/c.jpg", "expected": {"company": "Missing Row", "date": "2018-02-03", "total": 1.0}},
    ]
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in labels), encoding="utf-8")
    rows = pd.DataFrame(
        [
            {"source_path": "/x/docs/a.jpg", "company": "ACME SDN. BHD", "date": dt.date(2018, 1, 2), "total": 9.0},
            {"source_path": "docs/b.jpg", "company": "kedai runcit", "date": dt.date(2020, 1, 1), "total": None},
            {"source_path": "docs/zzz.jpg", "company": "not labelled", "date": None, "total": 1.0},
        ]
    )
    table = score.score(tmp_path, rows).set_index("field")
    assert table.loc["company", "n"] == 3
    assert (table.loc["company", "strict"], table.loc["company", "lenient"]) == (1, 2)  # "SDN. BHD" lenient only
    assert table.loc["date", "n"] == 2  # b has no date label: not counted
    assert table.loc["date", "strict"] == 1
    assert table.loc["total", "strict"] == 1
    assert table.loc["total", "pred_null"] == 2  # b predicted null, c has no row
    assert table.loc["ALL (micro)", "n"] == 8
    assert table.loc["ALL (micro)", "strict"] == 3
    assert table.loc["ALL (micro)", "strict_acc"] == pytest.approx(3 / 8)
    attrs = score.score(tmp_path, rows).attrs
    assert (attrs["documents"], attrs["with_row"], attrs["unlabelled_rows"]) == (3, 2, 1)
    assert (attrs["null_numbers"], attrs["labelled_numbers"]) == (2, 3)


def test_sroie_dates_and_amounts() -> None:
    assert build_sets.sroie_date("25/12/2018") == "2018-12-25"
    assert build_sets.sroie_date("5/1/17") == "2017-01-05"
    assert build_sets.sroie_date("23.03.18") == "2018-03-23"
    assert build_sets.sroie_date("26 MAR 2018") == "2018-03-26"
    assert build_sets.sroie_date("2018-03-14") == "2018-03-14"
    assert build_sets.sroie_date("31/02/2018") is None
    assert build_sets.sroie_date("TOTAL") is None
    assert build_sets.amount("$8.20") == 8.2
    assert build_sets.amount("RM 1,234.50") == 1234.5


def test_kleister_fields() -> None:
    line = (
        "address__post_town=KING'S_LYNN address__postcode=PE31_6RH charity_name=Christchurch_(Methodist)_Church "
        "charity_number=264289 income_annually_in_british_pounds=263964000.00 report_date=2014-12-31"
    )
    assert build_sets.kleister_fields(line) == {
        "charity_name": "Christchurch (Methodist) Church",
        "charity_number": "264289",
        "report_date": "2014-12-31",
        "income": 263964000.0,
        "postcode": "PE31 6RH",
        "post_town": "KING'S LYNN",
    }
    assert build_sets.unescape_kleister(r"a\nb\fc\\n") == "a\nb\fc\\n"


def test_committed_manifest_is_consistent() -> None:
    rows = build_sets.read_manifest()
    assert build_sets.check_metadata(rows) == []
    docs = {s: sum(1 for r in rows if r["set"] == s and "/docs/" in r["path"]) for s in build_sets.SETS}
    assert docs == {"receipts": 40, "receipts_pool": 100, "invoices": 35, "charity": 10, "charity_text": 11}
