"""Synthetic customer emails: orders, complaints, refund requests and questions; plain and HTML-only
bodies; quoted reply chains, forwards and signatures that carry misleading values; some with a PDF
order confirmation attached that holds the facts the label needs."""

from __future__ import annotations

import datetime as dt
import html
import random
from typing import Any

from extractor.synth.formats import faker_for
from extractor.synth.render import email_message, html_pdf

FAMILIES = {
    "plain": "train",
    "html_only": "train",
    "attachment": "train",
    "signature": "dev",
    "quoted_reply": "test",
    "forwarded": "test",
}

PRODUCTS = [
    "ergonomic office chair",
    "standing desk",
    "electric kettle",
    "wireless headset",
    "espresso machine",
    "laptop backpack",
    "LED desk lamp",
    "water filter jug",
    "running shoes",
    "winter jacket",
    "yoga mat",
    "coffee grinder",
    "bluetooth speaker",
    "monitor arm",
    "paper shredder",
]

# intent -> subject templates, (body template, urgency, sentiment) and the requested action.
# Urgency and sentiment belong to the wording of each body, so the label can be read off the text.
SCENARIOS: dict[str, dict[str, Any]] = {
    "order": dict(
        subjects=["New order", "Order request: {product}", "We would like to order"],
        bodies=[
            (
                "I would like to order {qty} x {product}. Please confirm the delivery date and send an invoice "
                "to this address.",
                "low",
                "neutral",
            ),
            (
                "Could you please ship {qty} units of the {product} to our office? We urgently need them by Friday.",
                "high",
                "neutral",
            ),
            ("We loved the last delivery! Please send us {qty} more {product} units.", "low", "positive"),
        ],
        action="confirm and ship the order",
    ),
    "complaint": dict(
        subjects=[
            "Order {order} still not delivered",
            "Very disappointed with order {order}",
            "Problem with my {product}",
        ],
        bodies=[
            (
                "I ordered the {product} (order {order}) three weeks ago and it has still not arrived. This is "
                "unacceptable. I need it immediately, deliver it this week or cancel the order.",
                "high",
                "negative",
            ),
            (
                "The {product} from order {order} stopped working after two days. I expected much better quality "
                "and I am unhappy. Please replace it when you can.",
                "medium",
                "negative",
            ),
        ],
        action="deliver or replace the product",
    ),
    "refund": dict(
        subjects=["Refund for order {order}", "Return and refund: {product}", "Please refund me"],
        bodies=[
            (
                "The {product} from order {order} arrived damaged. I would like a full refund to my card, please.",
                "medium",
                "negative",
            ),
            (
                "I returned the {product} (order {order}) last week as agreed. Please refund the full amount "
                "as soon as possible, it is urgent.",
                "high",
                "neutral",
            ),
        ],
        action="refund the order",
    ),
    "question": dict(
        subjects=["Question about the {product}", "Quick question", "Do you deliver abroad?"],
        bodies=[
            ("Does the {product} come with a warranty, and how long does delivery usually take?", "low", "neutral"),
            (
                "Hello, is the {product} available in other colours? Your shop is great, thanks in advance!",
                "low",
                "positive",
            ),
        ],
        action="answer the question",
    ),
}


def make(rng: random.Random, index: int, family: str) -> tuple[str, bytes, dict[str, Any]]:
    fake = faker_for(rng.choice(("en_GB", "en_US")), rng.randrange(2**31))
    intent = rng.choice(sorted(SCENARIOS))
    scenario = SCENARIOS[intent]
    name = fake.name()
    address = f"{name.split()[0].lower()}.{name.split()[-1].lower()}@{fake.free_email_domain()}"
    product = rng.choice(PRODUCTS)
    order = (
        None if intent in ("question", "order") else f"{rng.choice(('', 'A-', 'ORD-', '#'))}{rng.randint(10000, 99999)}"
    )
    values = {"product": product, "order": order or "", "qty": rng.randint(2, 20)}
    subject = rng.choice(scenario["subjects"]).format(**values)
    template, urgency, sentiment = rng.choice(scenario["bodies"])
    text = template.format(**values)
    company = fake.company()
    support = f"support@{company.split()[0].lower().strip(',')}.example"
    date = dt.datetime(2024, 1, 1, 8, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randrange(500000))
    greeting = rng.choice(("Hello,", "Dear support team,", "Hi there,", "Good morning,"))
    closing = rng.choice(("Best regards,", "Thanks,", "Kind regards,", "Regards,"))
    body = f"{greeting}\n\n{text}\n\n{closing}\n{name}"
    sender = f"{name} <{address}>"
    attachments = None
    html_body = None
    label_order = order

    if family == "html_only":
        html_body = (
            f"<html><body><p>{html.escape(greeting)}</p><p>{html.escape(text)}</p>"
            f"<p>{html.escape(closing)}<br><b>{html.escape(name)}</b></p></body></html>"
        )
    elif family == "attachment":
        label_order = order or f"SO-{rng.randint(100000, 999999)}"
        confirmation = html_pdf(
            [
                f"<h1>Order confirmation</h1><p>Order number: {label_order}</p>"
                f"<p>Customer: {html.escape(name)}</p><table class='lines'><tr><th>Item</th>"
                f"<th>Qty</th></tr><tr><td>{html.escape(product)}</td><td>{values['qty']}</td></tr>"
                f"</table>"
            ],
            title="Order confirmation",
        )
        body = (
            f"{greeting}\n\n{text.replace(order or '@@', 'in the attached confirmation')}\n"
            f"The details are in the attached order confirmation.\n\n{closing}\n{name}"
        )
        attachments = [(f"confirmation-{label_order}.pdf", "application/pdf", confirmation)]
    elif family == "signature":
        agent = faker_for("en_US", rng.randrange(2**31)).name()
        body += (
            f"\n--\n{name}\nProcurement, {fake.company()}\nPhone +44 20 {rng.randint(1000, 9999)} "
            f"{rng.randint(1000, 9999)} | Ref. {rng.randint(100000, 999999)}\nAssistant: {agent} "
            f"<assistant@{fake.domain_name()}>\nThis email and any attachments are confidential. "
            f"Customer account no. {rng.randint(100000, 999999)}."
        )
    elif family == "quoted_reply":
        agent = faker_for("en_US", rng.randrange(2**31)).name()
        other = f"{rng.randint(10000, 99999)}"
        quoted = (
            f"Dear customer,\nthank you for contacting us about order {other}. Your ticket T-{rng.randint(100, 999)} "
            f"is open. Could you tell us more?\n{agent}\nCustomer care, {company}"
        )
        body += f"\n\nOn {date:%d %b %Y}, {agent} <{support}> wrote:\n" + "\n".join(
            f"> {line}" for line in quoted.splitlines()
        )
        subject = f"Re: {subject}"
    elif family == "forwarded":
        colleague = faker_for("en_GB", rng.randrange(2**31)).name()
        inner = f"From: {sender}\nDate: {date:%a, %d %b %Y %H:%M}\nSubject: {subject}\nTo: {support}\n\n{body}"
        body = (
            f"Hi team,\nforwarding this customer email, can someone handle it?\n{colleague}\n\n"
            f"---------- Forwarded message ---------\n{inner}"
        )
        sender = f"{colleague} <{colleague.split()[0].lower()}@{company.split()[0].lower().strip(',')}.example>"
        subject = f"Fwd: {subject}"

    data = email_message(
        sender,
        support,
        subject,
        body,
        html_body=html_body,
        html_only=family == "html_only",
        date=date,
        attachments=attachments,
    )
    fields = {
        "intent": intent,
        "customer_name": name,
        "customer_email": address,
        "order_reference": label_order,
        "products": [product],
        "requested_action": scenario["action"],
        "urgency": urgency,
        "sentiment": sentiment,
    }
    return ".eml", data, fields
