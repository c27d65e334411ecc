"""Synthetic invoices: eight layout families, three languages, varied number/date formats,
several currencies, and distractors (PO and customer numbers, subtotal beside total, payment
reference, delivery date) next to the values the label holds."""

from __future__ import annotations

import datetime as dt
import html
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from extractor.synth import invoice_random
from extractor.synth.formats import CENT, CURRENCIES, Style, faker_for, money, one_line, pick_style, random_date
from extractor.synth.render import html_pdf

# family -> split. Held-out families are laid out unlike any training family.
FAMILIES = {
    "classic": "train",
    "banner": "train",
    "two_column": "train",
    "compact": "train",
    "multi_page": "train",
    "receipt": "dev",
    "letter": "test",
    "statement": "test",
}
# Training augmentation, only on request (`extractor synth --augment N`): a layout drawn per document.
AUGMENT_FAMILY = "randomised"

WORDS = {
    "en": dict(
        title="INVOICE",
        number="Invoice No.",
        date="Invoice date",
        due="Due date",
        bill_to="Bill to",
        desc="Description",
        qty="Qty",
        unit="Unit price",
        amount="Amount",
        subtotal="Subtotal",
        tax="VAT",
        total="Total due",
        po="PO number",
        customer="Customer no.",
        ref="Payment reference",
        delivery="Delivery date",
        thanks="Thank you for your business.",
        page="Page",
        pay="Please pay the amount due by",
        each="each",
        at="at",
        charge="We charge you for the following:",
    ),
    "fr": dict(
        title="FACTURE",
        number="Facture n°",
        date="Date de facture",
        due="Échéance",
        bill_to="Facturé à",
        desc="Désignation",
        qty="Qté",
        unit="Prix unitaire",
        amount="Montant",
        subtotal="Total HT",
        tax="TVA",
        total="Total TTC",
        po="Bon de commande",
        customer="Client n°",
        ref="Référence de paiement",
        delivery="Date de livraison",
        thanks="Merci de votre confiance.",
        page="Page",
        pay="Merci de régler le montant avant le",
        each="l'unité",
        at="à",
        charge="Nous vous facturons les prestations suivantes :",
    ),
    "de": dict(
        title="RECHNUNG",
        number="Rechnungsnummer",
        date="Rechnungsdatum",
        due="Fällig am",
        bill_to="Rechnungsempfänger",
        desc="Beschreibung",
        qty="Menge",
        unit="Einzelpreis",
        amount="Betrag",
        subtotal="Zwischensumme",
        tax="MwSt.",
        total="Gesamtbetrag",
        po="Bestellnummer",
        customer="Kundennummer",
        ref="Verwendungszweck",
        delivery="Lieferdatum",
        thanks="Vielen Dank für Ihren Auftrag.",
        page="Seite",
        pay="Bitte überweisen Sie den Betrag bis",
        each="je",
        at="zu",
        charge="Wir berechnen Ihnen folgende Leistungen:",
    ),
}

PRODUCTS = {
    "en": [
        "Steel widget 40 mm",
        "Assembly service",
        "Copy paper A4 box",
        "Consulting hours",
        "LED panel 60x60",
        "Shipping and handling",
        "Office chair, ergonomic",
        "Software licence (annual)",
        "Cable NYM-J 3x1.5",
        "Maintenance visit",
        "Printer toner black",
        "Safety gloves, pair",
        "Website hosting (month)",
        "Training workshop",
        "Wooden pallet",
        "Laptop stand",
    ],
    "fr": [
        "Farine T55, sac 25 kg",
        "Prestation de conseil",
        "Ramette papier A4",
        "Heures de maintenance",
        "Livraison",
        "Chaise de bureau",
        "Licence logicielle annuelle",
        "Câble électrique 3G1,5",
        "Cartouche d'encre noire",
        "Gants de sécurité",
        "Hébergement web (mois)",
        "Atelier de formation",
    ],
    "de": [
        "Kabel NYM-J 3x1,5",
        "Montage",
        "Anfahrt",
        "Kopierpapier A4",
        "Beratungsstunden",
        "Wartung",
        "Bürostuhl ergonomisch",
        "Softwarelizenz (jährlich)",
        "Toner schwarz",
        "Schutzhandschuhe",
        "Webhosting (Monat)",
        "Schulung vor Ort",
    ],
}
TAX_RATES = {
    "en": (Decimal("0.20"), Decimal("0.10"), Decimal("0.08")),
    "fr": (Decimal("0.20"), Decimal("0.055")),
    "de": (Decimal("0.19"), Decimal("0.07")),
}
FONTS = ("sans-serif", "serif", "monospace")


@dataclass(frozen=True)
class Line:
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Facts:
    number: str
    issuer: str
    issuer_address: str
    recipient: str
    recipient_address: str
    invoice_date: dt.date
    due_date: dt.date
    delivery_date: dt.date
    currency: str
    lines: tuple[Line, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    po_number: str
    customer_number: str
    payment_ref: str


def make(rng: random.Random, index: int, family: str) -> tuple[str, bytes, dict[str, Any]]:
    """One invoice of `family`: (file suffix, PDF bytes, label fields)."""
    language = rng.choice(("en", "en", "fr", "de"))
    style = pick_style(rng, language)
    facts = _facts(rng, index, language, style, many_lines=family == "multi_page")
    words = WORDS[language]
    css = f"body {{ font-family: {rng.choice(FONTS)}; font-size: {rng.choice((9, 10, 11))}pt; }}"
    pages = RENDER[family](facts, style, words, rng)
    return ".pdf", html_pdf(pages, title=f"{words['title'].title()} {facts.number}", css=css), _label(facts)


def _facts(rng: random.Random, index: int, language: str, style: Style, many_lines: bool) -> Facts:
    fake = faker_for(style.locale, rng.randrange(2**31))
    issued = random_date(rng)
    count = rng.randint(12, 18) if many_lines else rng.randint(1, 5)
    lines = []
    for description in rng.sample(PRODUCTS[language] * 2, count):
        quantity = Decimal(rng.choice((1, 1, 2, 3, 4, 5, 10, 12, 20, 100)))
        unit = money(rng, 1, 400)
        lines.append(Line(description, quantity, unit, (quantity * unit).quantize(CENT)))
    subtotal = sum((line.amount for line in lines), Decimal("0.00"))
    tax = (subtotal * rng.choice(TAX_RATES[language])).quantize(CENT)
    prefix = rng.choice(("INV-", "F-", "RE-", "", "N", "A"))
    year = rng.choice((f"{issued.year}-", f"{issued.year}/", ""))
    number = f"{prefix}{year}{index + 100:05d}"
    return Facts(
        number=number,
        issuer=fake.company(),
        issuer_address=one_line(fake.address()),
        recipient=fake.company(),
        recipient_address=one_line(fake.address()),
        invoice_date=issued,
        due_date=issued + dt.timedelta(days=rng.choice((14, 30, 45, 60))),
        delivery_date=issued - dt.timedelta(days=rng.randint(1, 20)),
        currency=rng.choice(CURRENCIES[style.locale]),
        lines=tuple(lines),
        subtotal=subtotal,
        tax=tax,
        total=subtotal + tax,
        po_number=f"PO-{rng.randint(1000, 99999)}",
        customer_number=f"C{rng.randint(10000, 99999)}",
        payment_ref=f"RF{rng.randint(10, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
    )


def _label(f: Facts) -> dict[str, Any]:
    return {
        "invoice_number": f.number,
        "issuer": f.issuer,
        "recipient": f.recipient,
        "invoice_date": f.invoice_date.isoformat(),
        "due_date": f.due_date.isoformat(),
        "currency": f.currency,
        "subtotal": str(f.subtotal),
        "tax": str(f.tax),
        "total": str(f.total),
        "line_items": [
            {
                "description": line.description,
                "quantity": str(line.quantity),
                "unit_price": str(line.unit_price),
                "amount": str(line.amount),
            }
            for line in f.lines
        ],
    }


# ---- the layout families -------------------------------------------------------------------------

e = html.escape


def _money(style: Style, f: Facts, value: Decimal) -> str:
    return f"{style.amount(value)} {f.currency}"


def _table(f: Facts, s: Style, w: dict[str, str], lines: tuple[Line, ...] | None = None, borders: bool = True) -> str:
    rows = "".join(
        f"<tr><td>{e(x.description)}</td><td class='right'>{s.quantity(x.quantity)}</td>"
        f"<td class='right'>{s.amount(x.unit_price)}</td><td class='right'>{s.amount(x.amount)}</td></tr>"
        for x in (lines if lines is not None else f.lines)
    )
    cls = "lines" if borders else "plain"
    return (
        f"<table class='{cls}'><tr><th>{w['desc']}</th><th>{w['qty']}</th><th>{w['unit']}</th>"
        f"<th>{w['amount']}</th></tr>{rows}</table>"
    )


def _totals(f: Facts, s: Style, w: dict[str, str]) -> str:
    return (
        f"<p class='right'>{w['subtotal']}: {_money(s, f, f.subtotal)}<br/>{w['tax']}: {_money(s, f, f.tax)}"
        f"<br/><b>{w['total']}: {_money(s, f, f.total)}</b></p>"
    )


def _meta(f: Facts, s: Style, w: dict[str, str], rng: random.Random) -> str:
    items = [(w["number"], f.number), (w["date"], s.date(f.invoice_date)), (w["due"], s.date(f.due_date))]
    distractors = [(w["po"], f.po_number), (w["customer"], f.customer_number), (w["delivery"], s.date(f.delivery_date))]
    items += rng.sample(distractors, rng.randint(1, 3))
    rng.shuffle(items)
    return "<br/>".join(f"{k}: {e(v)}" for k, v in items)


def _classic(f: Facts, s: Style, w: dict[str, str], rng: random.Random) -> list[str]:
    return [
        f"<h1>{w['title']}</h1><p><b>{e(f.issuer)}</b><br/>{e(f.issuer_address)}</p><p>{_meta(f, s, w, rng)}</p>"
        f"<p><b>{w['bill_to']}:</b><br/>{e(f.recipient)}<br/>{e(f.recipient_address)}</p>"
        f"{_table(f, s, w)}{_totals(f, s, w)}<p>{w['ref']}: {e(f.payment_ref)}</p><p>{w['thanks']}</p>"
    ]


def _banner(f: Facts, s: Style, w: dict[str, str], rng: random.Random) -> list[str]:
    return [
        f"<h1>{w['title']} {e(f.number)}</h1><p>{_meta(f, s, w, rng)}</p>"
        f"<p>{w['bill_to']}: <b>{e(f.recipient)}</b>, {e(f.recipient_address)}</p>{_table(f, s, w)}"
        f"<table class='lines'><tr><td>{w['subtotal']}</td><td class='right'>{_money(s, f, f.subtotal)}</td></tr>"
        f"<tr><td>{w['tax']}</td><td class='right'>{_money(s, f, f.tax)}</td></tr>"
        f"<tr><td><b>{w['total']}</b></td><td class='right'><b>{_money(s, f, f.total)}</b></td></tr></table>"
        f"<p style='font-size:8pt'>{e(f.issuer)} · {e(f.issuer_address)} · {w['ref']} {e(f.payment_ref)}</p>"
    ]


def _two_column(f: Facts, s: Style, w: dict[str, str], rng: random.Random) -> list[str]:
    return [
        f"<table class='plain' style='width:100%'><tr><td><b>{e(f.issuer)}</b><br/>{e(f.issuer_address)}</td>"
        f"<td><b>{w['bill_to']}</b><br/>{e(f.recipient)}<br/>{e(f.recipient_address)}</td></tr></table>"
        f"<h2>{w['title']}</h2><p>{_meta(f, s, w, rng)}</p>{_table(f, s, w, borders=False)}"
        f"<table class='plain'><tr><td>{w['subtotal']}</td><td>{_money(s, f, f.subtotal)}</td></tr>"
        f"<tr><td>{w['tax']}</td><td>{_money(s, f, f.tax)}</td></tr>"
        f"<tr><td>{w['total']}</td><td>{_money(s, f, f.total)}</td></tr></table>"
    ]


def _compact(f: Facts, s: Style, w: dict[str, str], rng: random.Random) -> list[str]:
    items = "<br/>".join(
        f"{e(x.description)} .... {s.quantity(x.quantity)} x {s.amount(x.unit_price)} = {s.amount(x.amount)}"
        for x in f.lines
    )
    return [
        f"<p style='font-family: monospace; font-size: 8pt'>{e(f.issuer.upper())}<br/>{e(f.issuer_address)}<br/>"
        f"--------------------------------<br/>{w['title']}<br/>{_meta(f, s, w, rng)}<br/>"
        f"{w['bill_to']}: {e(f.recipient)}, {e(f.recipient_address)}<br/>--------------------------------<br/>"
        f"{items}<br/>--------------------------------<br/>{w['subtotal']}: {_money(s, f, f.subtotal)}<br/>"
        f"{w['tax']}: {_money(s, f, f.tax)}<br/>{w['total']}: {_money(s, f, f.total)}</p>"
    ]


def _multi_page(f: Facts, s: Style, w: dict[str, str], rng: random.Random) -> list[str]:
    half = len(f.lines) // 2
    head = f"<p><b>{e(f.issuer)}</b> · {w['title']} {e(f.number)}</p>"
    return [
        f"<h1>{w['title']}</h1><p><b>{e(f.issuer)}</b><br/>{e(f.issuer_address)}</p><p>{_meta(f, s, w, rng)}</p>"
        f"<p><b>{w['bill_to']}:</b> {e(f.recipient)}, {e(f.recipient_address)}</p>"
        f"{_table(f, s, w, f.lines[:half])}<p>{w['page']} 1/2</p>",
        f"{head}{_table(f, s, w, f.lines[half:])}{_totals(f, s, w)}<p>{w['page']} 2/2</p>",
    ]


def _receipt(f: Facts, s: Style, w: dict[str, str], rng: random.Random) -> list[str]:
    items = "".join(f"<li>{s.quantity(x.quantity)} × {e(x.description)}: {s.amount(x.amount)}</li>" for x in f.lines)
    return [
        f"<div style='text-align:center'><h2>{e(f.issuer)}</h2><p>{e(f.issuer_address)}</p>"
        f"<p>{w['title']} {e(f.number)} · {s.date(f.invoice_date)}</p></div><ul>{items}</ul>"
        f"<p>{w['subtotal']} {_money(s, f, f.subtotal)} · {w['tax']} {_money(s, f, f.tax)}</p>"
        f"<h2>{w['total']}: {_money(s, f, f.total)}</h2><p>{w['bill_to']}: {e(f.recipient)}</p>"
        f"<p>{w['due']}: {s.date(f.due_date)} · {w['customer']}: {e(f.customer_number)}</p>"
    ]


def _letter(f: Facts, s: Style, w: dict[str, str], rng: random.Random) -> list[str]:
    items = "".join(
        f"<p>– {s.quantity(x.quantity)} {e(x.description)} {w['at']} {s.amount(x.unit_price)} "
        f"{w['each']}, {s.amount(x.amount)} {f.currency}</p>"
        for x in f.lines
    )
    return [
        f"<p>{e(f.issuer)}<br/>{e(f.issuer_address)}</p><p style='text-align:right'>{e(f.recipient)}<br/>"
        f"{e(f.recipient_address)}</p><p>{s.date(f.invoice_date)}</p><p><b>{w['title'].title()} {e(f.number)}</b>"
        f" ({w['po']} {e(f.po_number)})</p><p>{w['charge']}</p>{items}"
        f"<p>{w['subtotal']} {_money(s, f, f.subtotal)}, {w['tax']} {_money(s, f, f.tax)}, "
        f"{w['total'].lower()} {_money(s, f, f.total)}.</p>"
        f"<p>{w['pay']} {s.date(f.due_date)}. {w['ref']}: {e(f.payment_ref)}.</p><p>{w['thanks']}</p>"
    ]


def _statement(f: Facts, s: Style, w: dict[str, str], rng: random.Random) -> list[str]:
    return [
        f"<table class='lines'><tr><td><b>{w['total']}</b></td><td><b>{_money(s, f, f.total)}</b></td>"
        f"<td>{w['due']}</td><td>{s.date(f.due_date)}</td></tr></table>"
        f"<p>{e(f.issuer)} – {e(f.issuer_address)}</p><h2>{w['title']} {e(f.number)}</h2>"
        f"<p>{w['date']} {s.date(f.invoice_date)} · {w['customer']} {e(f.customer_number)} · "
        f"{w['delivery']} {s.date(f.delivery_date)}</p><p>{e(f.recipient)}<br/>{e(f.recipient_address)}</p>"
        f"{_table(f, s, w)}<p>{w['subtotal']}: {_money(s, f, f.subtotal)} | {w['tax']}: {_money(s, f, f.tax)}</p>"
    ]


RENDER = {
    "classic": _classic,
    "banner": _banner,
    "two_column": _two_column,
    "compact": _compact,
    "multi_page": _multi_page,
    "receipt": _receipt,
    "letter": _letter,
    "statement": _statement,
    AUGMENT_FAMILY: invoice_random.render,
}
assert set(RENDER) == set(FAMILIES) | {AUGMENT_FAMILY}
