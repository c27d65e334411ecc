"""Long project reports (20+ pages) with the facts spread over chosen pages: for measuring what
reading a long document in parts recovers that truncation loses.

Every page is one rendered page of narrative filler; the facts of the `project_report` schema
are printed on the pages asked for (by default the title page, the middle, and the last but one).
"""

from __future__ import annotations

import datetime as dt
import html
import random
from decimal import Decimal
from typing import Any

from extractor.synth.project_report import COUNTRIES, ORG_SUFFIX, THEMES
from extractor.synth.render import html_pdf

FILLER = [
    "Field teams met with community representatives to review the work plan and agree on next steps.",
    "Monitoring visits continued as planned, and the observations were shared with local committees.",
    "Weather conditions delayed some activities, which were rescheduled without changing the overall plan.",
    "Training materials were revised after feedback from participants and trainers.",
    "The steering group discussed risks, reporting duties and the coordination of volunteers.",
    "Procurement followed the organisation's usual rules, with three quotes for every larger purchase.",
    "Stories collected from participants describe how daily routines changed over the period.",
]


def long_report(
    rng: random.Random, pages: int = 30, fact_pages: tuple[int, int, int] | None = None
) -> tuple[bytes, dict[str, Any]]:
    """(PDF bytes, the `project_report` labels). `fact_pages`: the pages holding (name and
    organisation, budget and partners, end date); default (1, pages // 2 - 1, pages - 1)."""
    first, middle, late = fact_pages or (1, pages // 2 - 1, pages - 1)
    theme, _focus, _who = rng.choice(THEMES)
    organisation = (
        f"{rng.choice(['Blue River', 'Northern Light', 'Open Hands', 'Green Valley'])} {rng.choice(ORG_SUFFIX)}"
    )
    country = rng.choice(COUNTRIES)
    start = dt.date(2022, rng.randint(1, 12), rng.randint(1, 28))
    end = dt.date(2026, rng.randint(1, 12), rng.randint(1, 28))
    budget = Decimal(rng.randint(200, 4000) * 1000)
    currency = rng.choice(["EUR", "USD"])
    partners = [f"University of {country}", f"{country} Red Cross"]
    name = f"{theme} in {country}"
    facts = {
        first: [
            f"<h1>{html.escape(name)}</h1>",
            f"<p>Annual report of the {html.escape(organisation)}. The project started on {start:%d %B %Y}.</p>",
        ],
        middle: [
            "<h2>Finances and partners</h2>",
            f"<p>The approved budget of the project is {budget:,.2f} {currency}.</p>",
            f"<p>It is carried out with {html.escape(partners[0])} and {html.escape(partners[1])}.</p>",
        ],
        late: [f"<h2>Outlook</h2><p>The project is scheduled to end on {end:%d %B %Y}.</p>"],
    }
    html_pages = []
    for number in range(1, pages + 1):
        body = [f"<h3>Section {number}</h3>"]
        body += facts.get(number, [])
        body += [f"<p>{rng.choice(FILLER)} {rng.choice(FILLER)} {rng.choice(FILLER)}</p>" for _ in range(6)]
        html_pages.append("".join(body))
    labels = {
        "project_name": name,
        "organisation": organisation,
        "countries": [country],
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "budget": f"{budget:.2f}",
        "currency": currency,
        "partners": partners,
        "outcomes": [],
    }
    return html_pdf(html_pages), labels
