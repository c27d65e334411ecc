"""Write the shipped sample documents into data/samples/ (deterministic; rerun to rebuild).

    python data/make_samples.py

invoices/  three invoice PDFs (English, French, German), an email with an invoice PDF attached,
           and one deliberately broken PDF so the demo shows an error row
emails/    customer emails: plain text, HTML-only, and one with an order confirmation attached
reports/   a two-page project report
labels.jsonl  the values a perfect extraction would return, one line per good document
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from extractor.samples import (
    InvoiceSpec,
    email_message,
    html_pdf,
    invoice_pdf,
    report_pages,
)

OUT = Path(__file__).resolve().parent / "samples"

INVOICES = {
    "acme-2024-0042.pdf": InvoiceSpec(
        invoice_number="INV-2024-0042",
        issuer="Acme Widgets Ltd",
        issuer_address="12 Mill Road, Leeds LS1 4AB",
        recipient="Northwind Traders",
        recipient_address="88 Harbour Street, Bristol BS1 5TT",
        invoice_date="2024-03-01",
        due_date="2024-03-31",
        currency="GBP",
        lines=[("Steel widget, 40 mm", "100", "2.50", "250.00"), ("Assembly service", "4", "45.00", "180.00")],
        subtotal="430.00",
        tax="86.00",
        total="516.00",
        po_number="PO-7781",
    ),
    "facture-bernard-118.pdf": InvoiceSpec(
        invoice_number="F-118",
        issuer="Bernard & Fils SARL",
        issuer_address="4 rue des Lilas, 69003 Lyon",
        recipient="Boulangerie Martin",
        recipient_address="21 avenue Foch, 75016 Paris",
        invoice_date="15/02/2024",
        due_date="15/03/2024",
        currency="EUR",
        language="fr",
        lines=[("Farine T55, sac 25 kg", "12", "18,40", "220,80")],
        subtotal="220,80",
        tax="44,16",
        total="264,96",
    ),
    "rechnung-kraus-5531.pdf": InvoiceSpec(
        invoice_number="RE-5531",
        issuer="Kraus Elektrotechnik GmbH",
        issuer_address="Hauptstraße 5, 80331 München",
        recipient="Stadtwerke Ulm",
        recipient_address="Karlstraße 1, 89073 Ulm",
        invoice_date="2024-01-10",
        due_date="2024-02-09",
        currency="EUR",
        language="de",
        lines=[
            ("Kabel NYM-J 3x1,5", "200", "1,20", "240,00"),
            ("Montage", "6", "65,00", "390,00"),
            ("Anfahrt", "1", "35,00", "35,00"),
        ],
        subtotal="665,00",
        tax="126,35",
        total="791,35",
    ),
}

ATTACHED_INVOICE = InvoiceSpec(
    invoice_number="2024-311",
    issuer="Bright Paper Co",
    issuer_address="5 Elm Street, Boston MA 02108",
    recipient="Lakeside Dental",
    recipient_address="400 Shore Drive, Chicago IL 60601",
    invoice_date="March 5, 2024",
    due_date="April 4, 2024",
    currency="USD",
    lines=[("Copy paper A4, box", "10", "32.00", "320.00")],
    subtotal="320.00",
    tax="25.60",
    total="345.60",
)


def _label(spec: InvoiceSpec, dates: tuple[str, str], amounts: tuple[str, str, str]) -> dict:
    return {
        "invoice_number": spec.invoice_number,
        "issuer": spec.issuer,
        "recipient": spec.recipient,
        "invoice_date": dates[0],
        "due_date": dates[1],
        "currency": spec.currency,
        "subtotal": amounts[0],
        "tax": amounts[1],
        "total": amounts[2],
    }


def main() -> None:
    labels: list[dict] = []
    (OUT / "invoices").mkdir(parents=True, exist_ok=True)
    for name, spec in INVOICES.items():
        (OUT / "invoices" / name).write_bytes(invoice_pdf(spec))
    labels += [
        {
            "file": "invoices/acme-2024-0042.pdf",
            "schema": "invoice",
            "fields": _label(
                INVOICES["acme-2024-0042.pdf"], ("2024-03-01", "2024-03-31"), ("430.00", "86.00", "516.00")
            ),
        },
        {
            "file": "invoices/facture-bernard-118.pdf",
            "schema": "invoice",
            "fields": _label(
                INVOICES["facture-bernard-118.pdf"], ("2024-02-15", "2024-03-15"), ("220.80", "44.16", "264.96")
            ),
        },
        {
            "file": "invoices/rechnung-kraus-5531.pdf",
            "schema": "invoice",
            "fields": _label(
                INVOICES["rechnung-kraus-5531.pdf"], ("2024-01-10", "2024-02-09"), ("665.00", "126.35", "791.35")
            ),
        },
    ]
    (OUT / "invoices" / "bright-paper-invoice.eml").write_bytes(
        email_message(
            "Accounts <accounts@brightpaper.example>",
            "ap@lakesidedental.example",
            "Invoice 2024-311",
            "Hello,\n\nplease find attached our invoice 2024-311 for the paper delivered on March 4.\n\n"
            "Kind regards,\nBright Paper Co accounts",
            attachments=[("invoice-2024-311.pdf", "application/pdf", invoice_pdf(ATTACHED_INVOICE))],
        )
    )
    labels.append(
        {
            "file": "invoices/bright-paper-invoice.eml",
            "schema": "invoice",
            "fields": _label(ATTACHED_INVOICE, ("2024-03-05", "2024-04-04"), ("320.00", "25.60", "345.60")),
        }
    )
    # Deliberately broken: a PDF cut off after its header, as a failed upload would leave it.
    (OUT / "invoices" / "broken-upload.pdf").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Cat")

    (OUT / "emails").mkdir(parents=True, exist_ok=True)
    (OUT / "emails" / "complaint-late-delivery.eml").write_bytes(
        email_message(
            "Maria Lopez <maria.lopez@example.org>",
            "support@acme.example",
            "Order 55123 still not delivered",
            "Hello,\n\nI ordered two ergonomic office chairs (order 55123) three weeks ago and they have still not "
            "arrived. This is unacceptable, I need them for my new staff on Monday. Please deliver them this week "
            "or cancel the order.\n\nMaria Lopez",
        )
    )
    labels.append(
        {
            "file": "emails/complaint-late-delivery.eml",
            "schema": "customer_email",
            "fields": {
                "intent": "complaint",
                "customer_name": "Maria Lopez",
                "customer_email": "maria.lopez@example.org",
                "order_reference": "55123",
                "urgency": "high",
                "sentiment": "negative",
            },
        }
    )
    (OUT / "emails" / "question-html.eml").write_bytes(
        email_message(
            "Tom Becker <tom@beckerbau.example>",
            "sales@acme.example",
            "Question about bulk prices",
            "",
            html_only=True,
            html_body="<html><body><p>Hi,</p><p>do you offer a discount for <b>500 steel widgets</b>? "
            "We would order every quarter.</p><p>Thanks,<br>Tom Becker<br>Becker Bau</p></body></html>",
        )
    )
    labels.append(
        {
            "file": "emails/question-html.eml",
            "schema": "customer_email",
            "fields": {
                "intent": "question",
                "customer_name": "Tom Becker",
                "customer_email": "tom@beckerbau.example",
                "order_reference": None,
                "urgency": "low",
                "sentiment": "neutral",
            },
        }
    )
    (OUT / "emails" / "refund-request.eml").write_bytes(
        email_message(
            "Priya Shah <priya.shah@example.net>",
            "support@acme.example",
            "Refund for damaged kettle",
            "Dear support,\n\nthe electric kettle from order A-9921 arrived with a cracked lid. I would like a full "
            "refund to my card please. Photos are available if needed.\n\nBest regards,\nPriya Shah",
        )
    )
    labels.append(
        {
            "file": "emails/refund-request.eml",
            "schema": "customer_email",
            "fields": {
                "intent": "refund",
                "customer_name": "Priya Shah",
                "customer_email": "priya.shah@example.net",
                "order_reference": "A-9921",
                "urgency": "medium",
                "sentiment": "negative",
            },
        }
    )

    (OUT / "reports").mkdir(parents=True, exist_ok=True)
    (OUT / "reports" / "clean-water-2023.pdf").write_bytes(
        html_pdf(
            report_pages(
                "Clean Water for Rural Schools - Annual Report 2023",
                "WaterBridge Foundation",
                [
                    (
                        "Summary",
                        "<p>The Clean Water for Rural Schools project started on 1 April 2022 and runs until "
                        "31 March 2025 in Kenya and Uganda. It is implemented by the WaterBridge Foundation "
                        "with Aqua Partners Kenya and the Ugandan Ministry of Education.</p>",
                    ),
                    (
                        "Budget",
                        "<p>The total budget is 1,250,000 USD, of which 61% was spent by the end of 2023.</p>"
                        "<table class='lines'><tr><th>Item</th><th>USD</th></tr><tr><td>Wells</td><td>700,000</td>"
                        "</tr><tr><td>Training</td><td>300,000</td></tr><tr><td>Monitoring</td><td>250,000</td>"
                        "</tr></table>",
                    ),
                    ("Outcomes", "<p>42 schools now have safe drinking water. School attendance rose by 12%.</p>"),
                ],
            )
        )
    )
    labels.append(
        {
            "file": "reports/clean-water-2023.pdf",
            "schema": "project_report",
            "fields": {
                "project_name": "Clean Water for Rural Schools",
                "organisation": "WaterBridge Foundation",
                "countries": ["Kenya", "Uganda"],
                "start_date": "2022-04-01",
                "end_date": "2025-03-31",
                "budget": "1250000.00",
                "currency": "USD",
            },
        }
    )

    with (OUT / "labels.jsonl").open("w") as f:
        for label in labels:
            f.write(json.dumps(label, ensure_ascii=False) + "\n")
    print(f"wrote {sum(1 for p in OUT.rglob('*') if p.is_file())} files under {OUT}")


if __name__ == "__main__":
    main()
