"""Synthetic project reports: multi-page narratives where the budget, dates, countries and partners
are scattered through prose and tables, with distractor figures (spent amounts, other years)."""

from __future__ import annotations

import datetime as dt
import html
import random
from decimal import Decimal
from typing import Any

from extractor.synth.formats import faker_for, pick_style, random_date
from extractor.synth.render import html_pdf

FAMILIES = {
    "narrative": "train",
    "factsheet": "train",
    "timeline": "train",
    "director_letter": "dev",
    "partner_tables": "test",
}

THEMES = [
    ("Clean Water for Rural Schools", "safe drinking water", "schools"),
    ("Solar Light for Health Clinics", "solar power", "clinics"),
    ("Girls in Science", "science education", "students"),
    ("Resilient Farming", "drought-resistant farming", "farmers"),
    ("Digital Skills for Youth", "digital skills training", "young people"),
    ("Mangrove Restoration", "coastal restoration", "villages"),
    ("Mobile Maternal Care", "maternal health care", "mothers"),
]
COUNTRIES = [
    "Kenya",
    "Uganda",
    "Tanzania",
    "Ghana",
    "Senegal",
    "Nepal",
    "Bangladesh",
    "Peru",
    "Bolivia",
    "Guatemala",
    "Malawi",
    "Zambia",
    "Mozambique",
    "Cambodia",
    "Ethiopia",
]
ORG_SUFFIX = ["Foundation", "Trust", "Alliance", "Initiative", "Network", "Aid"]
PARTNER_KINDS = [
    "Ministry of Health of {c}",
    "University of {c}",
    "{c} Red Cross",
    "{w} Cooperative",
    "{w} Community Council",
    "Aqua Partners {c}",
    "{w} Women's Association",
]


def make(rng: random.Random, index: int, family: str) -> tuple[str, bytes, dict[str, Any]]:
    style = pick_style(rng, "en")
    fake = faker_for(style.locale, rng.randrange(2**31))
    theme, topic, beneficiaries = rng.choice(THEMES)
    name = f"{theme} {rng.choice(('', 'II', 'Phase 2', str(2020 + rng.randint(0, 5))))}".strip()
    organisation = f"{fake.last_name()} {rng.choice(ORG_SUFFIX)}"
    countries = rng.sample(COUNTRIES, rng.randint(1, 3))
    start = random_date(rng, dt.date(2018, 1, 1), 2000)
    end = start + dt.timedelta(days=rng.choice((365, 730, 1095, 1460)) - 1)
    budget = Decimal(rng.randrange(50, 5000) * 1000)
    currency = rng.choice(("USD", "EUR", "GBP", "CHF"))
    partners = [
        rng.choice(PARTNER_KINDS).format(c=rng.choice(countries), w=fake.last_name()) for _ in range(rng.randint(1, 4))
    ]
    partners = list(dict.fromkeys(partners))
    reached = rng.randint(10, 400)
    outcomes = [
        f"{reached} {beneficiaries} gained access to {topic}.",
        f"{rng.randint(5, 60)} local staff were trained.",
    ]
    spent = (budget * Decimal(rng.randint(20, 90)) / 100).quantize(Decimal(1))
    e = html.escape
    money = f"{style.amount(budget)} {currency}"
    where = ", ".join(countries[:-1]) + (" and " if len(countries) > 1 else "") + countries[-1]
    intro = (
        f"<p>The {e(name)} project is run by the {e(organisation)}. It started on {style.date(start)} and is "
        f"planned to end on {style.date(end)}. Activities take place in {e(where)}.</p>"
    )
    context = (
        f"<p>In {start.year - 1} a needs assessment showed that many {beneficiaries} lacked {topic}. "
        f"Earlier pilots in {start.year - 2} reached a few hundred people.</p>"
    )
    budget_p = (
        f"<p>The total budget of the project is {money}. By the end of the reporting period "
        f"{style.amount(spent)} {currency} had been spent.</p>"
    )
    partners_p = f"<p>The project works with {e(', '.join(partners))}.</p>"
    outcome_p = "<ul>" + "".join(f"<li>{e(o)}</li>" for o in outcomes) + "</ul>"
    title = f"<h1>{e(name)}</h1><p>{e(organisation)} · Annual report {start.year + 1}</p>"

    if family == "narrative":
        pages = [title + intro + context, "<h2>Finance</h2>" + budget_p + partners_p, "<h2>Results</h2>" + outcome_p]
    elif family == "factsheet":
        facts = "".join(
            f"<tr><td>{k}</td><td>{e(v)}</td></tr>"
            for k, v in [
                ("Project", name),
                ("Organisation", organisation),
                ("Countries", where),
                ("Start", style.date(start)),
                ("End", style.date(end)),
                ("Total budget", money),
            ]
        )
        pages = [
            title + f"<table class='lines'>{facts}</table>" + context,
            "<h2>Partners</h2>" + partners_p,
            "<h2>Outcomes</h2>" + outcome_p,
        ]
    elif family == "timeline":
        rows = (
            f"<tr><td>{style.date(start)}</td><td>Project start</td></tr>"
            f"<tr><td>{style.date(start + dt.timedelta(days=120))}</td><td>First field visits</td></tr>"
            f"<tr><td>{style.date(end)}</td><td>Project end</td></tr>"
        )
        pages = [
            title + f"<p>The {e(name)} project of the {e(organisation)} operates in {e(where)}.</p>" + context,
            f"<h2>Timeline</h2><table class='lines'>{rows}</table>" + budget_p,
            "<h2>Partners and results</h2>" + partners_p + outcome_p,
        ]
    elif family == "director_letter":
        pages = [
            f"<p>Dear friends and supporters,</p><p>it is my pleasure to present the report of {e(name)}, "
            f"our work in {e(where)} since {style.date(start)}.</p>" + context,
            budget_p + f"<p>The project will close on {style.date(end)}.</p>" + partners_p,
            outcome_p + f"<p>With gratitude,<br/>{e(fake.name())}<br/>Director, {e(organisation)}</p>",
        ]
    else:  # partner_tables
        prow = "".join(
            f"<tr><td>{e(p)}</td><td>{rng.choice(('Implementing', 'Technical', 'Funding'))}</td></tr>" for p in partners
        )
        brow = (
            f"<tr><td>Approved budget</td><td>{money}</td></tr>"
            f"<tr><td>Spent to date</td><td>{style.amount(spent)} {currency}</td></tr>"
        )
        pages = [
            title + intro,
            f"<h2>Partners</h2><table class='lines'><tr><th>Partner</th><th>Role</th></tr>{prow}"
            f"</table><h2>Budget</h2><table class='lines'>{brow}</table>" + context,
            outcome_p,
        ]
    fields = {
        "project_name": name,
        "organisation": organisation,
        "countries": countries,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "budget": f"{budget:.2f}",
        "currency": currency,
        "partners": partners,
        "outcomes": outcomes,
    }
    return ".pdf", html_pdf(pages, title=name), fields
