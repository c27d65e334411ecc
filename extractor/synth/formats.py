"""How values are printed in generated documents: numbers, dates and currencies by locale (Babel),
names, companies and addresses by locale (Faker)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

LANG_LOCALES = {"en": ("en_GB", "en_US"), "fr": ("fr_FR",), "de": ("de_DE",)}
CURRENCIES = {"en_GB": ("GBP", "EUR"), "en_US": ("USD",), "fr_FR": ("EUR",), "de_DE": ("EUR", "CHF")}
NUMBER_STYLES = {"1,234.56": "en_US", "1.234,56": "de_DE", "1 234,56": "fr_FR"}
NUMERIC_DATES = {"en_US": "%m/%d/%Y", "de_DE": "%d.%m.%Y"}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Style:
    """The printing conventions of one document."""

    locale: str  # for words (month names) and Faker
    number_style: str  # a key of NUMBER_STYLES
    date_style: str  # "iso" | "numeric" | "long"

    def amount(self, value: Decimal) -> str:
        from babel.numbers import format_decimal

        text = format_decimal(value, format="#,##0.00", locale=NUMBER_STYLES[self.number_style])
        return text.replace("\u202f", " ").replace("\u00a0", " ")  # base-14 PDF fonts lack thin spaces

    def quantity(self, value: Decimal) -> str:
        if value == value.to_integral_value():
            return str(int(value))
        return self.amount(value)

    def date(self, value: dt.date) -> str:
        from babel.dates import format_date

        if self.date_style == "iso":
            return value.isoformat()
        if self.date_style == "numeric":
            return value.strftime(NUMERIC_DATES.get(self.locale, "%d/%m/%Y"))
        return format_date(value, format="long", locale=self.locale)


def pick_style(rng: random.Random, language: str) -> Style:
    locale = rng.choice(LANG_LOCALES[language])
    native = {"en_US": "1,234.56", "en_GB": "1,234.56", "de_DE": "1.234,56", "fr_FR": "1 234,56"}[locale]
    number_style = native if rng.random() < 0.75 else rng.choice(sorted(NUMBER_STYLES))
    return Style(locale=locale, number_style=number_style, date_style=rng.choice(("iso", "numeric", "long")))


def money(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(str(rng.uniform(low, high))).quantize(CENT, rounding=ROUND_HALF_UP)


def faker_for(locale: str, seed: int):  # type: ignore[no-untyped-def]
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(seed)
    return fake


def one_line(address: str) -> str:
    return ", ".join(part.strip() for part in address.splitlines() if part.strip())


def random_date(rng: random.Random, start: dt.date = dt.date(2021, 1, 1), days: int = 1400) -> dt.date:
    return start + dt.timedelta(days=rng.randrange(days))
