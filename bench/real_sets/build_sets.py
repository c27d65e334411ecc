"""Re-create or verify the labelled real-document evaluation sets under data/real_sets/.

Each set is documents that nobody on this project wrote, with the field values their source gives:

    receipts      40 scanned receipts (ICDAR 2019 SROIE test set): company, date, address, total
    receipts_pool 100 more of them, to label and distil from (never scored against)
    invoices      35 ZUGFeRD / Factur-X invoice PDFs: issuer, invoice number, issue date, total, currency,
                  read from the invoice XML embedded in each PDF
    charity       10 UK charity annual reports (Kleister-Charity dev-0 PDFs): name, number, period end,
                  income, spending, postcode, post town, street line
    charity_text  the same reports (and one more) as the text Kleister-Charity ships, as .txt files

Built, each set is `data/real_sets/<set>/docs/*` and `data/real_sets/<set>/labels.jsonl`, one line per
document: {"file": "docs/<name>", "expected": {field: value}, ...} with strings as the label gives
them (whitespace collapsed), dates as ISO `YYYY-MM-DD` and amounts as numbers; a field the source does
not give, or whose label we found wrong or not printed in the document, is left out of "expected"
(the line's "notes" say why). Nothing is chosen at build time: the documents, their order and every
label decision are pinned below (see bench/real_sets/README.md for the rules that produced them), and
every file written is checked against `bench/real_sets/manifest.csv` (SHA-256 and size).

    python bench/real_sets/build_sets.py --ensure            # build if missing or damaged; nothing to do if whole
    python bench/real_sets/build_sets.py --verify            # only check the built files against manifest.csv
    python bench/real_sets/build_sets.py --write-manifest    # after changing a pick: rebuild, rewrite manifest.csv

A build reads each file with `git cat-file` at its pinned commit from a local copy of the repository
(a clone or a bare mirror), found as `owner+name/repo`, `owner+name` or `owner/name` under the
folders in $EXTRACTOR_MIRRORS (several joined with `:`), else under /work/.mirror. It needs no
network, and pymupdf (a project dependency) to read the invoices' embedded XML. It writes into a
staging folder, verifies that, and only then moves the set folders into place. `--ensure` without
the mirrors prints a warning and exits 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parents[2] / "data"))  # for the shared pinned_sources.py
import pinned_sources as pinned

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
DATA = REPO_ROOT / "data" / "real_sets"
MANIFEST = HERE / "manifest.csv"
MANIFEST_COLUMNS = ("set", "path", "repo", "commit", "source_path", "licence", "sha256", "bytes")
SETS = ("receipts", "receipts_pool", "invoices", "charity", "charity_text")
ENSURE_COMMAND = "python bench/real_sets/build_sets.py --ensure"


@dataclass(frozen=True)
class Source:
    repo: str
    commit: str
    licence: str  # SPDX identifier of what the data is under (see README for how it was established)


SOURCES: dict[str, Source] = {
    # The ICDAR 2019 SROIE task-3 test set (images and key files byte-identical to the copy in
    # althayr/ICDAR-2019-SROIE-dataset). The repository has no licence file; SROIE is CC-BY-4.0
    # (stated by the redistribution jsdnrs/ICDAR2019-SROIE, LICENSE + NOTICE).
    "sroie": Source("pdrsa/sroie2019", "ffe12f4a456d4e37705f648e74431724b34ca38a", "CC-BY-4.0"),
    "zugferd-corpus": Source("ZUGFeRD/corpus", "47b61beb29b7de98c3c91cdb3657415c0ede783b", "Apache-2.0"),
    "mustangproject": Source("ZUGFeRD/mustangproject", "096db40a9806b0b5202028509dff3563efe7fc8c", "Apache-2.0"),
    "factur-x": Source("akretion/factur-x", "5edb9af9186e5f06f446372688e6fdbbd0b790d3", "BSD-3-Clause"),
    # Kleister-Charity: labels (dev-0/expected.tsv) and the git-annex keys (SHA-256) of the PDFs. No
    # licence file; the maintainers state the Open Government Licence v3 (issue #2).
    "kleister": Source("applicaai/kleister-charity", "2309f4861cc49864ac653a7fa108efc2144400b3", "OGL-UK-3.0"),
    # 11 Kleister-Charity dev-0 documents copied unchanged (PDFs and the dev-0/in.tsv rows): the PDFs
    # are checked against Kleister's own annex keys. No licence file; the data is Kleister's (OGL v3).
    "playgroup": Source(
        "ianozsvald/playgroup_202602_docextract", "3c4a94a3e9ec6add4e05ff62a9b08ffff9556db0", "OGL-UK-3.0"
    ),
}

# --------------------------------------------------------------------------------------------- picks

# receipts: the first 40 SROIE test images by name, byte-identical duplicates skipped (X51005301666 is
# X51005268275 again), X51007846358.jpg being absent from the snapshot (it sorts far later anyway).
RECEIPT_IDS = [
    "X00016469670",
    "X00016469671",
    "X51005200931",
    "X51005230605",
    "X51005230616",
    "X51005230621",
    "X51005230648",
    "X51005230657",
    "X51005230659",
    "X51005268275",
    "X51005268408",
    "X51005288570",
    "X51005337867",
    "X51005337877",
    "X51005361906",
    "X51005361908",
    "X51005361912",
    "X51005361923",
    "X51005365187",
    "X51005433518",
    "X51005433543",
    "X51005433548",
    "X51005433556",
    "X51005442322",
    "X51005442334",
    "X51005442343",
    "X51005442366",
    "X51005442375",
    "X51005442382",
    "X51005442388",
    "X51005444040",
    "X51005444041",
    "X51005444044",
    "X51005444046",
    "X51005447841",
    "X51005447842",
    "X51005447844",
    "X51005447851",
    "X51005447859",
    "X51005568855",
]

# receipts_pool: the next 100 SROIE test images by name after the last of RECEIPT_IDS that have a key in
# truth/, byte-identical duplicates of an earlier pick skipped (X51005684949). Disjoint from `receipts`:
# a user's folder to label and distil from (bench/distil_loop.py --pool-set), never scored against.
RECEIPT_POOL_IDS = [
    "X51005568866",
    "X51005568885",
    "X51005568887",
    "X51005568889",
    "X51005568890",
    "X51005568892",
    "X51005568894",
    "X51005568895",
    "X51005577191",
    "X51005582745",
    "X51005587261",
    "X51005605287",
    "X51005605295",
    "X51005605332",
    "X51005621482",
    "X51005663274",
    "X51005663300",
    "X51005663307",
    "X51005663309",
    "X51005663310",
    "X51005663323",
    "X51005675099",
    "X51005675103",
    "X51005675104",
    "X51005675914",
    "X51005676534",
    "X51005676535",
    "X51005676537",
    "X51005676542",
    "X51005676548",
    "X51005677327",
    "X51005677333",
    "X51005677336",
    "X51005677337",
    "X510056849111",
    "X51005705727",
    "X51005705729",
    "X51005705784",
    "X51005710963",
    "X51005711402",
    "X51005711443",
    "X51005711444",
    "X51005711446",
    "X51005711449",
    "X51005715007",
    "X51005715455",
    "X51005719823",
    "X51005719855",
    "X51005719857",
    "X51005719863",
    "X51005719888",
    "X51005719889",
    "X51005719895",
    "X51005719898",
    "X51005719903",
    "X51005719905",
    "X51005724552",
    "X51005724611",
    "X51005724622",
    "X51005724623",
    "X51005724624",
    "X51005724625",
    "X51005724626",
    "X51005724628",
    "X51005741929",
    "X51005742110",
    "X51005745213",
    "X51005745244",
    "X51005745298",
    "X51005746203",
    "X51005746204",
    "X51005746206",
    "X51005746207",
    "X51005746210",
    "X51005749904",
    "X51005757233",
    "X51005757282",
    "X51005757292",
    "X51005757308",
    "X51005757342",
    "X51005763958",
    "X51005763964",
    "X51005763999",
    "X51005764031",
    "X51005764154",
    "X51005764161",
    "X51005806692",
    "X51005806695",
    "X51005806696",
    "X51005806718",
    "X51005806719",
    "X51005806720",
    "X51006008081",
    "X51006008082",
    "X51006008083",
    "X51006008090",
    "X51006008092",
    "X51006008093",
    "X51006008105",
    "X51006008166",
]


@dataclass(frozen=True)
class InvoicePick:
    source: str
    source_path: str
    drop: dict[str, str] = field(default_factory=dict)  # field -> why the embedded XML's value is not used


_NOT_PRINTED = "the embedded XML's value is not printed in the PDF"
# invoices: every PDF with embedded invoice XML under ZUGFeRD/corpus `XML-Rechnung/FX/` and `*/correct/`,
# then ZUGFeRD/mustangproject `library|validator/src/test/resources/`, then akretion/factur-x
# `tests/fixtures/`, each in path order; file names with invalid/corrupt/fail skipped; only TypeCode
# 380 (invoice), 384 (corrected invoice), 387 (hire invoice), 575 (insurer's invoice); a PDF whose
# seller and grand total repeat an earlier pick's skipped (the same sample in another format version).
# Left out: ZUGFeRDv1/correct/Konik/acme_invoice-42_ZUGFeRD.pdf, whose XML (Seller Inc., 119.00,
# 20131122-42) describes another invoice than the one printed (Acme GmbH, 1.589,80, Nr. 42).
INVOICE_PICKS = (
    InvoicePick("zugferd-corpus", "XML-Rechnung/FX/EN16931_1_Teilrechnung.pdf"),
    InvoicePick("zugferd-corpus", "XML-Rechnung/FX/EN16931_2_Teilrechnung.pdf"),
    InvoicePick("zugferd-corpus", "XML-Rechnung/FX/EN16931_AbweichenderZahlungsempf.pdf"),
    InvoicePick("zugferd-corpus", "XML-Rechnung/FX/EN16931_Betriebskostenabrechnung.pdf"),
    InvoicePick("zugferd-corpus", "XML-Rechnung/FX/EN16931_ElektronischeAdresse.pdf"),
    InvoicePick("zugferd-corpus", "XML-Rechnung/FX/EN16931_Haftpflichtversicherung_Versicherungssteuer.pdf"),
    InvoicePick("zugferd-corpus", "XML-Rechnung/FX/EN16931_Kraftfahrversicherung_Bruttopreise.pdf"),
    InvoicePick("zugferd-corpus", "XML-Rechnung/FX/EN16931_OEPNV.pdf"),
    InvoicePick("zugferd-corpus", "XML-Rechnung/FX/EN16931_Physiotherapeut.pdf"),
    InvoicePick("zugferd-corpus", "XML-Rechnung/FX/EN16931_Rabatte.pdf"),
    InvoicePick("zugferd-corpus", "XML-Rechnung/FX/EN16931_Rechnungskorrektur.pdf"),
    InvoicePick("zugferd-corpus", "XML-Rechnung/FX/EN16931_Reisekostenabrechnung.pdf"),
    InvoicePick("zugferd-corpus", "XML-Rechnung/FX/EN16931_Sachversicherung_berechneter_Steuersatz.pdf"),
    InvoicePick("zugferd-corpus", "ZUGFeRDv1/correct/4s4u/additional-data-sample-1.pdf"),
    InvoicePick("zugferd-corpus", "ZUGFeRDv1/correct/Intarsys/ZUGFeRD_1p0_BASIC_Einfach.pdf"),
    InvoicePick("zugferd-corpus", "ZUGFeRDv1/correct/Intarsys/ZUGFeRD_1p0_BASIC_Rechnungskorrektur.pdf"),
    InvoicePick(
        "zugferd-corpus",
        "ZUGFeRDv1/correct/Intarsys/ZUGFeRD_1p0_COMFORT_Haftpflichtversicherung_Versicherungssteuer.pdf",
        {"invoice_number": _NOT_PRINTED + " (01.234.567.8-2014-1; the PDF prints only VSNR 01.234.567.8)"},
    ),
    InvoicePick("zugferd-corpus", "ZUGFeRDv1/correct/Intarsys/ZUGFeRD_1p0_COMFORT_Rabatte.pdf"),
    InvoicePick("zugferd-corpus", "ZUGFeRDv1/correct/Intarsys/ZUGFeRD_1p0_EXTENDED_Kostenrechnung.pdf"),
    InvoicePick(
        "zugferd-corpus",
        "ZUGFeRDv1/correct/Mustangproject/MustangGnuaccountingBeispielRE-20140519_499.pdf",
        {"issuer": _NOT_PRINTED + " (usegroup Inh. Jochen Stärk; the PDF is issued by Bei Spiel GmbH)"},
    ),
    InvoicePick("zugferd-corpus", "ZUGFeRDv1/correct/Mustangproject/MustangGnuaccountingBeispielRE-20140522_501.pdf"),
    InvoicePick("zugferd-corpus", "ZUGFeRDv2/correct/FNFE-factur-x-examples/Facture_DOM_BASICWL.pdf"),
    InvoicePick("zugferd-corpus", "ZUGFeRDv2/correct/FNFE-factur-x-examples/Facture_FR_BASICWL.pdf"),
    InvoicePick("zugferd-corpus", "ZUGFeRDv2/correct/FNFE-factur-x-examples/Facture_UE_BASICWL.pdf"),
    InvoicePick("zugferd-corpus", "ZUGFeRDv2/correct/intarsys/BASIC/zugferd_2p0_BASIC_Taxifahrt.pdf"),
    InvoicePick("zugferd-corpus", "ZUGFeRDv2/correct/intarsys/EXTENDED/zugferd_2p0_EXTENDED_Fremdwaehrung.pdf"),
    InvoicePick(
        "zugferd-corpus",
        "ZUGFeRDv2/correct/intarsys/EXTENDED/zugferd_2p0_EXTENDED_InnergemeinschLieferungMehrereBestellungen.pdf",
    ),
    InvoicePick("zugferd-corpus", "ZUGFeRDv2/correct/intarsys/EXTENDED/zugferd_2p0_EXTENDED_Kostenrechnung.pdf"),
    InvoicePick("zugferd-corpus", "ZUGFeRDv2/correct/symtrax/Beispiele/BASIC WL/zugferd_2p1_BASIC-WL_Einfach.pdf"),
    InvoicePick(
        "mustangproject",
        "library/src/test/resources/MustangBeispiel20221026.pdf",
        {"total_amount": _NOT_PRINTED + " (963.11; the PDF's Endsumme is 963,12)"},
    ),
    InvoicePick("mustangproject", "library/src/test/resources/ZTESTZUGFERD_1_INVDSS_012015738820PDF-1.pdf"),
    InvoicePick("mustangproject", "validator/src/test/resources/103767-Invoice-2026-03-24-1.pdf"),
    InvoicePick("mustangproject", "validator/src/test/resources/Facture_F20180027.pdf"),
    InvoicePick("mustangproject", "validator/src/test/resources/validAvoir_FR_type380_BASICWL.pdf"),
    InvoicePick("factur-x", "tests/fixtures/pdf/invoice_EN16931.pdf"),
)
INVOICE_TYPE_CODES = {"380", "384", "387", "575"}
EMBEDDED_XML_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "ZUGFeRD-invoice.xml", "xrechnung.xml")


@dataclass(frozen=True)
class CharityPick:
    name: str  # the document's MD5 name in Kleister-Charity
    expected_line: int  # its line (1-based) in Kleister-Charity's dev-0/expected.tsv
    pdf: bool = True  # False: the PDF is over the snapshot's 4 MiB limit; only its text is used
    corrections: dict[str, tuple[float, float, str]] = field(default_factory=dict)  # field -> (label, fixed, why)


# charity: the 11 dev-0 documents (rows 4-7, 11, 14-18, 47 of dev-0/in.tsv) that the playgroup
# repository copied from Kleister-Charity; the rows were its author's picks, not ours.
CHARITY_PICKS = (
    CharityPick("d07c46323bb61186b6175bad9a274225", 4),
    CharityPick("a84c1c7a3e570a716f6c61de557b5ff1", 5),
    CharityPick("34646877386855695219579059c07302", 6, pdf=False),
    CharityPick("bc1881761cdd5edf2d7e5c12958a82f2", 7),
    CharityPick("7d56c6cc848666198c050855dbb16092", 11),
    CharityPick("44ba842bbbd4f18587ad8ae3fe4ecdd7", 14),
    CharityPick(
        "6f9b8f27fd43be13d822c0b4654be167",
        15,
        corrections={
            "income": (
                107771.0,
                107711.0,
                "the label's 107771 is a transcription error: the accounts print 107,711 "
                "(applicaai/kleister-charity issue #9; checked in the PDF's text)",
            )
        },
    ),
    CharityPick("556ee39a83d9a15738918e8e60dc45a7", 16),
    CharityPick("cfe956d594cd45a0267d966dadebf72e", 17),
    CharityPick("cc19e4fd0c4a605a7f537050df52483e", 18),
    CharityPick("871b94cb6b28fb7fd1f7447306f38717", 47),
)
KLEISTER_KEYS = {  # Kleister key -> field in labels.jsonl (and in schemas.CharityReport)
    "charity_name": "charity_name",
    "charity_number": "charity_number",
    "report_date": "report_date",
    "income_annually_in_british_pounds": "income",
    "spending_annually_in_british_pounds": "spending",
    "address__postcode": "postcode",
    "address__post_town": "post_town",
    "address__street_line": "street_line",
}
KLEISTER_TEXT_COLUMN = 5  # in.tsv: filename, keys, text_djvu, text_tesseract, text_textract, text_best

# --------------------------------------------------------------------------------- label conversion

_MONTHS = {
    m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)
}


def _year(text: str) -> int:
    return int(text) + 2000 if len(text) == 2 else int(text)


def sroie_date(text: str) -> str | None:
    """A SROIE date label (25/12/2018, 5/1/17, 22-03-2018, 23.03.18, 26 MAR 2018, 2018-03-14) as ISO,
    or None if it is not a date. Day before month, as on Malaysian receipts."""
    s = text.strip()
    try:
        if m := re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", s):
            return dt.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        if m := re.fullmatch(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})", s):
            return dt.date(_year(m[3]), int(m[2]), int(m[1])).isoformat()
        if m := re.fullmatch(r"(\d{1,2})[\s\-/.]*([A-Za-z]{3,9})[\s\-/.,]*(\d{4}|\d{2})", s):
            month = _MONTHS.get(m[2][:3].lower())
            return dt.date(_year(m[3]), month, int(m[1])).isoformat() if month else None
    except ValueError:
        return None
    return None


def amount(text: str) -> float | None:
    """A label amount ('9.00', '$8.20', 'RM 1,234.50') as a number, or None."""
    s = re.sub(r"^(RM|MYR|\$)\s*", "", text.strip(), flags=re.I).replace(",", "")
    try:
        return float(s)
    except ValueError:
        return None


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def receipt_record(doc_id: str, key_json: bytes) -> dict[str, Any]:
    raw = json.loads(key_json.decode("utf-8"))
    expected: dict[str, Any] = {}
    notes = []
    for name in ("company", "address"):
        if isinstance(raw.get(name), str) and raw[name].strip():
            expected[name] = collapse(raw[name])
    if isinstance(raw.get("date"), str):
        iso = sroie_date(raw["date"])
        if iso:
            expected["date"] = iso
        else:
            notes.append(f"date label {raw['date']!r} is not a date; left out")
    if isinstance(raw.get("total"), str):
        value = amount(raw["total"])
        if value is not None:
            expected["total"] = value
        else:
            notes.append(f"total label {raw['total']!r} is not a number; left out")
    record: dict[str, Any] = {"file": f"docs/{doc_id}.jpg", "expected": expected, "label": raw}
    if notes:
        record["notes"] = notes
    return record


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element | None, *names: str) -> ET.Element | None:
    for name in names:
        if element is None:
            return None
        element = next((c for c in element if _local(c.tag) == name), None)
    return element


def _descendants(element: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in element.iter() if _local(e.tag) == name]


def invoice_fields(xml: bytes) -> tuple[str | None, dict[str, Any]]:
    """(TypeCode, fields) of a ZUGFeRD 1 / ZUGFeRD 2 / Factur-X (UN/CEFACT CII) invoice."""
    root = ET.fromstring(xml)
    header = _child(root, "ExchangedDocument") or _child(root, "HeaderExchangedDocument")
    type_code = _child(header, "TypeCode")
    out: dict[str, Any] = {}
    number = _child(header, "ID")
    if number is not None and number.text and number.text.strip():
        out["invoice_number"] = collapse(number.text)
    issued = _child(header, "IssueDateTime", "DateTimeString")
    if issued is not None and issued.text and re.fullmatch(r"\d{8}", issued.text.strip()):
        d = issued.text.strip()
        out["issue_date"] = dt.date(int(d[:4]), int(d[4:6]), int(d[6:])).isoformat()
    sellers = _descendants(root, "SellerTradeParty")
    seller_name = _child(sellers[0], "Name") if sellers else None
    if seller_name is not None and seller_name.text and seller_name.text.strip():
        out["issuer"] = collapse(seller_name.text)
    currency = next((e.text.strip() for e in _descendants(root, "InvoiceCurrencyCode") if e.text), None)
    totals = [
        e.text.strip()
        for e in _descendants(root, "GrandTotalAmount")
        if e.text and (e.get("currencyID") in (None, currency))
    ]
    if totals:
        out["total_amount"] = float(totals[0])
    if currency:
        out["currency"] = currency
    return (type_code.text.strip() if type_code is not None and type_code.text else None), out


def embedded_invoice_xml(pdf: bytes) -> tuple[str, bytes]:
    """(name, bytes) of the invoice XML embedded in a PDF."""
    try:
        import pymupdf
    except ImportError as error:  # a project dependency; missing only outside the project's venv
        raise pinned.MirrorError(
            "pymupdf is needed to read the invoices' embedded XML (use the project's venv)"
        ) from error
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        names = doc.embfile_names()
        name = next((n for n in EMBEDDED_XML_NAMES if n in names), None) or next(
            (n for n in sorted(names) if n.lower().endswith(".xml")), None
        )
        if name is None:
            raise ValueError("no embedded XML")
        return name, doc.embfile_get(name)


def kleister_fields(line: str) -> dict[str, Any]:
    """Kleister's `key=value` pairs (spaces in values written as `_`) as typed fields."""
    out: dict[str, Any] = {}
    for pair in line.split():
        key, _, value = pair.partition("=")
        name = KLEISTER_KEYS.get(key)
        if name is None or not value:
            continue
        if name in ("income", "spending"):
            out[name] = float(value)
        elif name == "report_date":
            out[name] = dt.date.fromisoformat(value).isoformat()
        else:
            out[name] = value.replace("_", " ")
    order = list(KLEISTER_KEYS.values())
    return dict(sorted(out.items(), key=lambda item: order.index(item[0])))


def unescape_kleister(text: str) -> str:
    """Kleister's in.tsv text with its escapes undone: \\n, \\t, \\f (page break), \\\\."""
    return re.sub(r"\\([ntf\\])", lambda m: {"n": "\n", "t": "\t", "f": "\f", "\\": "\\"}[m[1]], text)


# ---------------------------------------------------------------------------------------------- build


class Reader:
    """Reads `path` at a source's pinned commit, one `git cat-file` per file."""

    def __init__(self, git_dirs: dict[str, Path]) -> None:
        self.git_dirs = git_dirs  # repo -> its git directory

    def read(self, source: str, path: str) -> bytes:
        repo, commit = SOURCES[source].repo, SOURCES[source].commit
        return pinned.read_blob(self.git_dirs[repo], f"{commit}:{path}", repo)


@dataclass
class Built:
    """What one set's build wrote: files (path under data/real_sets -> bytes) and their manifest rows."""

    files: dict[str, bytes] = field(default_factory=dict)
    rows: list[dict[str, str]] = field(default_factory=list)

    def add(self, set_name: str, rel: str, data: bytes, source: str | None, source_path: str, licence: str) -> None:
        path = f"{set_name}/{rel}"
        if path in self.files:
            raise ValueError(f"{path}: written twice")
        self.files[path] = data
        src = SOURCES[source] if source else None
        self.rows.append(
            {
                "set": set_name,
                "path": path,
                "repo": src.repo if src else "derived",
                "commit": src.commit if src else "",
                "source_path": source_path,
                "licence": src.licence if src else licence,
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": str(len(data)),
            }
        )

    def labels(self, set_name: str, records: list[dict[str, Any]], source_path: str, licence: str) -> None:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        self.add(set_name, "labels.jsonl", text.encode("utf-8"), None, source_path, licence)


def build_receipts(reader: Reader, out: Built, set_name: str = "receipts", ids: Sequence[str] = RECEIPT_IDS) -> None:
    records = []
    for doc_id in ids:
        out.add(
            set_name,
            f"docs/{doc_id}.jpg",
            reader.read("sroie", f"images/{doc_id}.jpg"),
            "sroie",
            f"images/{doc_id}.jpg",
            "",
        )
        records.append(receipt_record(doc_id, reader.read("sroie", f"truth/{doc_id}.txt")))
    out.labels(set_name, records, "pdrsa/sroie2019 truth/<id>.txt (SROIE task-3 keys)", "CC-BY-4.0")


def build_receipts_pool(reader: Reader, out: Built) -> None:
    build_receipts(reader, out, "receipts_pool", RECEIPT_POOL_IDS)


def build_invoices(reader: Reader, out: Built) -> None:
    records = []
    for pick in INVOICE_PICKS:
        data = reader.read(pick.source, pick.source_path)
        name = pick.source_path.rsplit("/", 1)[-1]
        out.add("invoices", f"docs/{name}", data, pick.source, pick.source_path, "")
        xml_name, xml = embedded_invoice_xml(data)
        type_code, fields = invoice_fields(xml)
        if type_code not in INVOICE_TYPE_CODES:
            raise ValueError(f"{pick.source_path}: TypeCode {type_code} is not an invoice type")
        notes = []
        for name_, why in pick.drop.items():
            if fields.pop(name_, None) is None:
                raise ValueError(f"{pick.source_path}: {name_} to drop is not in the XML")
            notes.append(f"{name_} left out: {why}")
        for name_ in ("issuer", "invoice_number", "issue_date", "total_amount", "currency"):
            if name_ not in fields and name_ not in pick.drop:
                notes.append(f"{name_} left out: not in the embedded XML")
        record: dict[str, Any] = {
            "file": f"docs/{name}",
            "expected": {
                k: fields[k]
                for k in ("issuer", "invoice_number", "issue_date", "total_amount", "currency")
                if k in fields
            },
            "source": f"{SOURCES[pick.source].repo}:{pick.source_path} ({xml_name}, TypeCode {type_code})",
        }
        if notes:
            record["notes"] = notes
        records.append(record)
    out.labels(
        "invoices",
        records,
        "the invoice XML embedded in each PDF (CII: seller Name, ID, IssueDateTime, "
        "GrandTotalAmount, InvoiceCurrencyCode)",
        "Apache-2.0;BSD-3-Clause",
    )


def _annex_sha256(link: bytes) -> str:
    """The SHA-256 in a git-annex link target (…/SHA256E-s<size>--<sha256>.pdf)."""
    m = re.search(rb"SHA256E-s\d+--([0-9a-f]{64})", link)
    if not m:
        raise ValueError(f"not a git-annex SHA256E key: {link[:120]!r}")
    return m[1].decode()


def charity_labels(reader: Reader) -> dict[str, dict[str, Any]]:
    lines = reader.read("kleister", "dev-0/expected.tsv").decode("utf-8").split("\n")
    out = {}
    for pick in CHARITY_PICKS:
        expected = kleister_fields(lines[pick.expected_line - 1])
        notes = []
        for name, (label, fixed, why) in pick.corrections.items():
            if expected.get(name) != label:
                raise ValueError(f"{pick.name}: {name} is {expected.get(name)!r} in the label, expected {label!r}")
            expected[name] = fixed
            notes.append(f"{name} corrected from {label} to {fixed}: {why}")
        record: dict[str, Any] = {
            "expected": expected,
            "source": f"applicaai/kleister-charity:dev-0/expected.tsv line {pick.expected_line}",
        }
        if notes:
            record["notes"] = notes
        out[pick.name] = record
    return out


def build_charity(reader: Reader, out: Built) -> None:
    labels = charity_labels(reader)
    records = []
    for pick in CHARITY_PICKS:
        if not pick.pdf:
            continue
        data = reader.read("playgroup", f"data/{pick.name}.pdf")
        annex = _annex_sha256(reader.read("kleister", f"documents/{pick.name}.pdf"))
        if hashlib.sha256(data).hexdigest() != annex:
            raise ValueError(f"{pick.name}.pdf differs from Kleister-Charity's document (annex key {annex})")
        out.add("charity", f"docs/{pick.name}.pdf", data, "playgroup", f"data/{pick.name}.pdf", "")
        records.append({"file": f"docs/{pick.name}.pdf", **labels[pick.name]})
    out.labels("charity", records, "applicaai/kleister-charity dev-0/expected.tsv", "OGL-UK-3.0")


def build_charity_text(reader: Reader, out: Built) -> None:
    labels = charity_labels(reader)
    rows = {}
    for line in reader.read("playgroup", "data/playgroup_dev_in.tsv").decode("utf-8").split("\n"):
        columns = line.split("\t")
        if len(columns) == 6:
            rows[columns[0]] = columns
    records = []
    for pick in CHARITY_PICKS:
        row = rows.get(f"{pick.name}.pdf")
        if row is None:
            raise ValueError(f"{pick.name}.pdf: no row in data/playgroup_dev_in.tsv")
        text = unescape_kleister(row[KLEISTER_TEXT_COLUMN])
        out.add(
            "charity_text",
            f"docs/{pick.name}.txt",
            text.encode("utf-8"),
            "playgroup",
            f"data/playgroup_dev_in.tsv (row {pick.name}.pdf, column text_best, unescaped)",
            "",
        )
        records.append({"file": f"docs/{pick.name}.txt", **labels[pick.name]})
    out.labels("charity_text", records, "applicaai/kleister-charity dev-0/expected.tsv", "OGL-UK-3.0")


BUILDERS = {
    "receipts": build_receipts,
    "receipts_pool": build_receipts_pool,
    "invoices": build_invoices,
    "charity": build_charity,
    "charity_text": build_charity_text,
}


def build_all(mirrors: Sequence[Path]) -> Built:
    """Every set in memory; raises pinned.MirrorError when a repository copy, commit or file is missing."""
    git_dirs = pinned.find_git_dirs(mirrors, [source.repo for source in SOURCES.values()])  # fails naming all missing
    reader = Reader(git_dirs)
    built = Built()
    for name in SETS:
        BUILDERS[name](reader, built)
    return built


# --------------------------------------------------------------------------------------------- verify


def read_manifest(path: Path = MANIFEST) -> list[dict[str, str]]:
    return pinned.read_csv(path)


def check_metadata(rows: list[dict[str, str]]) -> list[str]:
    """Problems in manifest.csv alone: known sets and sources, well-formed hashes, no path twice."""
    problems = []
    repos = {(s.repo, s.commit, s.licence) for s in SOURCES.values()}
    seen = set()
    for row in rows:
        path = row["path"]
        if path in seen:
            problems.append(f"{path}: listed twice")
        seen.add(path)
        if row["set"] not in SETS or not path.startswith(row["set"] + "/"):
            problems.append(f"{path}: set {row['set']!r} unknown or not its folder")
        if row["repo"] != "derived" and (row["repo"], row["commit"], row["licence"]) not in repos:
            problems.append(f"{path}: repo/commit/licence not one of SOURCES")
        if not re.fullmatch(r"[0-9a-f]{64}", row["sha256"]) or not row["bytes"].isdigit():
            problems.append(f"{path}: bad sha256 or size")
        if not path.isascii() or " " in path:
            problems.append(f"{path}: not a safe ASCII name")
    for name in SETS:
        if f"{name}/labels.jsonl" not in seen:
            problems.append(f"{name}/labels.jsonl: not in the manifest")
    return problems


def check_files(root: Path, rows: list[dict[str, str]]) -> list[str]:
    """Problems with the built files under `root`: each listed file there with its size and SHA-256,
    nothing unlisted in the set folders."""
    problems = []
    for row in rows:
        file = root / row["path"]
        if not file.is_file():
            problems.append(f"{row['path']}: missing")
            continue
        data = file.read_bytes()
        if str(len(data)) != row["bytes"] or hashlib.sha256(data).hexdigest() != row["sha256"]:
            problems.append(f"{row['path']}: differs from the manifest ({len(data)} bytes)")
    return problems + pinned.unlisted_files(root, SETS, {row["path"] for row in rows})


def verify(root: Path = DATA, manifest: Path = MANIFEST) -> list[str]:
    rows = read_manifest(manifest)
    return check_metadata(rows) + check_files(root, rows)


def describe(manifest: Path = MANIFEST) -> str:
    rows = read_manifest(manifest)
    counts = {s: sum(1 for r in rows if r["set"] == s and "/docs/" in r["path"]) for s in SETS}
    size = sum(int(r["bytes"]) for r in rows) / 1e6
    return ", ".join(f"{s} {n}" for s, n in counts.items()) + f" documents ({size:.1f} MB)"


def build(mirrors: Sequence[Path], root: Path = DATA, *, rewrite_manifest: bool = False) -> list[str]:
    """Build every set into a staging folder under `root`, verify it against manifest.csv (or, with
    `rewrite_manifest`, write manifest.csv from it), then swap the set folders into place. On any
    problem nothing under `root` changes and the problems are returned. The caller holds pinned.build_lock(root)."""
    try:
        built = build_all(mirrors)
    except ValueError as error:  # a pinned file whose content is not what the picks say
        return [str(error)]
    new_rows = built.rows if rewrite_manifest else None
    return pinned.build_staged(root, SETS, built.files, _verify_staged, MANIFEST, new_rows, MANIFEST_COLUMNS)


def _verify_staged(staging: Path) -> list[str]:
    return verify(staging, staging / "manifest.csv")


ENSURE_TEXTS = pinned.Texts(
    name="data/real_sets",
    damaged="damaged ({first})",
    building="{name}: {state}; building from {folders} ...",
    no_mirrors="warning: the real-document evaluation sets (data/real_sets/) are {state} and no mirror folder "
    "was found.\n{how}",
    cannot_build="warning: cannot build data/real_sets/: {error}; nothing was changed.\n{how}",
    mismatch="error: the sets built from the mirrors do not match manifest.csv",
    how="To build them, put clones or bare mirrors of the repositories in SOURCES of bench/real_sets/build_sets.py "
    "(holding the pinned commits) in a folder, as owner+name/repo, owner+name or owner/name, and run\n"
    f"    EXTRACTOR_MIRRORS=DIR {ENSURE_COMMAND}\n(see bench/real_sets/README.md).",
)


def ensure(root: Path = DATA, mirrors: Sequence[Path] | None = None) -> int:
    """Build the sets unless they are already whole; 0 unless a build went wrong."""
    return pinned.ensure(
        root, mirrors, generated=SETS, verify=verify, build=build, describe=describe, texts=ENSURE_TEXTS
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--ensure",
        action="store_true",
        help="build if missing or damaged (exit 0 with a warning when the mirrors are absent)",
    )
    mode.add_argument("--verify", action="store_true", help="only check the built files against manifest.csv")
    mode.add_argument(
        "--write-manifest",
        action="store_true",
        help="rebuild from the mirrors and rewrite manifest.csv (after changing a pick)",
    )
    args = parser.parse_args(argv)
    if args.ensure:
        return ensure()
    if args.write_manifest:
        return pinned.rebuild(
            DATA, lambda: build([d for d in pinned.mirror_dirs() if d.is_dir()], rewrite_manifest=True), describe
        )
    return pinned.report(verify(), describe)


if __name__ == "__main__":
    sys.exit(main())
