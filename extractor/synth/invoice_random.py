"""A randomised invoice layout for training augmentation (`extractor synth --augment N`).

The fixed families teach a small model *where* each value sits in five layouts; on a layout it has
never seen it then copies whatever sits there. Here every document draws its own composition: the
order of its blocks, how each block is rendered (table, list, one line, sentence), which synonym
labels a value and whether a value is labelled at all. What stays constant is only what the words
and values mean, so that is what the model has to learn.

Renders from the same facts, styles and vocabulary as the training families (`invoice.py`) plus
its own synonyms; it uses no words that only a held-out family prints, and none of its block
renderings is a held-out family's.
"""

from __future__ import annotations

import html
import random
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from extractor.synth.formats import Style
    from extractor.synth.invoice import Facts

e = html.escape

# Other words for the same labels, per language (the fixed families use WORDS only).
SYNONYMS = {
    "en": dict(
        number=("Invoice #", "Invoice number", "No.", "Reference"),
        date=("Date", "Issued", "Date of issue"),
        due=("Payment due", "Due", "Pay by"),
        bill_to=("Customer", "Invoice to", "To", "Billed to"),
        subtotal=("Net amount", "Net", "Total excl. tax"),
        tax=("Tax", "Sales tax", "VAT amount"),
        total=("Total", "Amount due", "Balance due", "Grand total", "Total incl. tax"),
        from_=("From", "Supplier", "Seller"),
        pay_by=("Payable by", "Please remit payment by", "Payment due on or before"),
    ),
    "fr": dict(
        number=("N° de facture", "Numéro", "Réf."),
        date=("Date", "Émise le", "Date d'émission"),
        due=("Date d'échéance", "À payer avant le", "Payable le"),
        bill_to=("Client", "Destinataire", "Adressé à"),
        subtotal=("Montant HT", "Sous-total", "Net HT"),
        tax=("Montant TVA", "TVA due"),
        total=("Net à payer", "Montant total", "Total à payer"),
        from_=("Émetteur", "Fournisseur", "De"),
        pay_by=("Paiement à effectuer avant le", "À régler au plus tard le"),
    ),
    "de": dict(
        number=("Rechnung Nr.", "Rechnungs-Nr.", "Beleg-Nr."),
        date=("Datum", "Ausgestellt am", "Belegdatum"),
        due=("Zahlbar bis", "Fälligkeit", "Zahlungsziel"),
        bill_to=("Kunde", "An", "Empfänger"),
        subtotal=("Nettobetrag", "Summe netto", "Netto"),
        tax=("USt.", "Umsatzsteuer", "MwSt.-Betrag"),
        total=("Rechnungsbetrag", "Endbetrag", "Zu zahlen", "Summe brutto"),
        from_=("Von", "Lieferant", "Absender"),
        pay_by=("Zahlbar bis zum", "Bitte zahlen Sie bis zum"),
    ),
}


def render(f: Facts, s: Style, w: dict[str, str], rng: random.Random) -> list[str]:
    """One page of HTML: the invoice's blocks in a random order, each rendered a random way."""
    language = _language(w)
    # Each label: the fixed families' word or one of its synonyms.
    label = {key: rng.choice((*([w[key]] if key in w else []), *others)) for key, others in SYNONYMS[language].items()}

    number_in_title = rng.random() < 0.4
    due_in_sentence = rng.random() < 0.25
    issuer, recipient = _issuer(f, label, rng), _recipient(f, label, rng)
    head = [issuer, _title(f, w, number_in_title, rng), recipient]
    rng.shuffle(head)
    if not _labelled(issuer, label) and not _labelled(recipient, label) and head.index(recipient) < head.index(issuer):
        # Two unlabelled parties: the letterhead convention (sender first) is all that tells them apart.
        i, r = head.index(issuer), head.index(recipient)
        head[i], head[r] = recipient, issuer
    meta = _meta(f, s, w, label, rng, with_number=not number_in_title, with_due=not due_in_sentence)
    head.insert(rng.randint(1, len(head)), meta)
    totals = _totals(f, s, label, rng)
    body = [_lines(f, s, w, rng)]
    if rng.random() < 0.3:
        head.insert(0, totals)  # an amount-due box above everything
    else:
        body.append(totals)
    tail = []
    if due_in_sentence:
        tail.append(f"<p>{label['pay_by']} {s.date(f.due_date)}.</p>")
    if rng.random() < 0.6:
        tail.append(f"<p>{w['ref']}: {e(f.payment_ref)}</p>")
    if rng.random() < 0.5:
        tail.append(f"<p>{w['thanks']}</p>")
    rng.shuffle(tail)
    return ["".join(head + body + tail)]


def _labelled(block: str, label: dict[str, str]) -> bool:
    return any(f"{label[key]}:" in block for key in ("from_", "bill_to"))


def _language(w: dict[str, str]) -> str:
    return {"INVOICE": "en", "FACTURE": "fr", "RECHNUNG": "de"}[w["title"]]


def _issuer(f: Facts, label: dict[str, str], rng: random.Random) -> str:
    style = rng.randrange(4)
    if style == 0:
        return f"<p><b>{e(f.issuer)}</b><br/>{e(f.issuer_address)}</p>"
    if style == 1:
        return f"<p>{e(f.issuer)} – {e(f.issuer_address)}</p>"
    if style == 2:
        return f"<h2>{e(f.issuer)}</h2><p style='font-size:8pt'>{e(f.issuer_address)}</p>"
    return f"<p>{label['from_']}: {e(f.issuer)}, {e(f.issuer_address)}</p>"


def _title(f: Facts, w: dict[str, str], with_number: bool, rng: random.Random) -> str:
    title = rng.choice((w["title"], w["title"].title()))
    text = f"{title} {e(f.number)}" if with_number else title
    level = rng.choice((1, 2))
    return f"<h{level}>{text}</h{level}>"


def _recipient(f: Facts, label: dict[str, str], rng: random.Random) -> str:
    style = rng.randrange(4)
    if style == 0:
        return f"<p><b>{label['bill_to']}:</b><br/>{e(f.recipient)}<br/>{e(f.recipient_address)}</p>"
    if style == 1:
        return f"<p>{label['bill_to']}: {e(f.recipient)}, {e(f.recipient_address)}</p>"
    if style == 2:  # no label: a name and address block, as on a window envelope
        return f"<p style='text-align:right'>{e(f.recipient)}<br/>{e(f.recipient_address)}</p>"
    return f"<p>{e(f.recipient)}<br/>{e(f.recipient_address)}</p>"


def _meta(
    f: Facts, s: Style, w: dict[str, str], label: dict[str, str], rng: random.Random, with_number: bool, with_due: bool
) -> str:
    items = []
    if with_number:
        items.append((label["number"], f.number))
    date_unlabelled = rng.random() < 0.2
    if not date_unlabelled:
        items.append((label["date"], s.date(f.invoice_date)))
    if with_due:
        items.append((label["due"], s.date(f.due_date)))
    distractors = [(w["po"], f.po_number), (w["customer"], f.customer_number), (w["delivery"], s.date(f.delivery_date))]
    items += rng.sample(distractors, rng.randint(0, 3))
    rng.shuffle(items)
    style = rng.randrange(4)
    if style == 0:
        text = "<p>" + "<br/>".join(f"{k}: {e(v)}" for k, v in items) + "</p>"
    elif style == 1:
        text = "<p>" + rng.choice((" · ", " | ", "; ")).join(f"{k} {e(v)}" for k, v in items) + "</p>"
    elif style == 2:
        rows = "".join(f"<tr><td>{k}</td><td>{e(v)}</td></tr>" for k, v in items)
        text = f"<table class='plain'>{rows}</table>"
    else:  # labels in a header row, values beneath
        heads = "".join(f"<th>{k}</th>" for k, _ in items)
        cells = "".join(f"<td>{e(v)}</td>" for _, v in items)
        text = f"<table class='lines'><tr>{heads}</tr><tr>{cells}</tr></table>"
    if date_unlabelled:
        date = f"<p>{s.date(f.invoice_date)}</p>"
        text = date + text if rng.random() < 0.5 else text + date
    return text


def _lines(f: Facts, s: Style, w: dict[str, str], rng: random.Random) -> str:
    cur = f" {f.currency}" if rng.random() < 0.3 else ""
    style = rng.randrange(5)
    if style <= 1:
        header = (
            f"<tr><th>{w['desc']}</th><th>{w['qty']}</th><th>{w['unit']}</th><th>{w['amount']}</th></tr>"
            if style == 0 or rng.random() < 0.5
            else ""
        )
        rows = "".join(
            f"<tr><td>{e(x.description)}</td><td>{s.quantity(x.quantity)}</td><td>{s.amount(x.unit_price)}</td>"
            f"<td>{s.amount(x.amount)}{cur}</td></tr>"
            for x in f.lines
        )
        return f"<table class='{rng.choice(('lines', 'plain'))}'>{header}{rows}</table>"
    if style == 2:
        sign = rng.choice(("×", "x", "@"))
        items = "".join(
            f"<li>{e(x.description)}: {s.quantity(x.quantity)} {sign} {s.amount(x.unit_price)} = "
            f"{s.amount(x.amount)}{cur}</li>"
            for x in f.lines
        )
        return f"<ul>{items}</ul>"
    if style == 3:
        return "".join(
            f"<p>{s.quantity(x.quantity)} × {e(x.description)} ({w['unit']} {s.amount(x.unit_price)}) — "
            f"{s.amount(x.amount)}{cur}</p>"
            for x in f.lines
        )
    # One line per item, its four values in an order and with a separator drawn for the document.
    order = rng.sample(range(4), 4)
    sep = rng.choice((" ", " – ", " / ", " | ", "; "))
    lines = []
    for x in f.lines:
        values = (e(x.description), s.quantity(x.quantity), s.amount(x.unit_price), f"{s.amount(x.amount)}{cur}")
        lines.append("<p>" + sep.join(values[i] for i in order) + "</p>")
    return "".join(lines)


def _totals(f: Facts, s: Style, label: dict[str, str], rng: random.Random) -> str:
    def money(value: Decimal) -> str:
        return f"{s.amount(value)} {f.currency}"

    items = [(label["subtotal"], f.subtotal), (label["tax"], f.tax), (label["total"], f.total)]
    if rng.random() < 0.2:
        items = [items[2], items[0], items[1]]  # the amount due first
    style = rng.randrange(3)
    if style == 0:
        return "<p class='right'>" + "<br/>".join(f"{k}: {money(v)}" for k, v in items) + "</p>"
    if style == 1:
        return "<p>" + rng.choice((" | ", ", ", " · ")).join(f"{k}: {money(v)}" for k, v in items) + "</p>"
    rows = "".join(f"<tr><td>{k}</td><td class='right'>{money(v)}</td></tr>" for k, v in items)
    return f"<table class='{rng.choice(('lines', 'plain'))}'>{rows}</table>"
