"""User-style schemas for the real-document evaluation sets (bench/real_sets/README.md).

Written the way a user would write them for these documents: plain Pydantic, short descriptions,
every field optional, without tuning them to how the labels are formatted.

    extractor run data/real_sets/receipts/docs --schema bench/real_sets/schemas.py:Receipt --out out/rs-receipts
    extractor run data/real_sets/invoices/docs --schema bench/real_sets/schemas.py:Invoice --out out/rs-invoices
    extractor run data/real_sets/charity/docs --schema bench/real_sets/schemas.py:CharityReport --out out/rs-charity
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class Receipt(BaseModel):
    """A till receipt from a shop or restaurant."""

    company: str | None = Field(None, description="Name of the shop or company that issued the receipt")
    date: dt.date | None = Field(None, description="Date of the purchase")
    address: str | None = Field(None, description="Address of the shop")
    total: float | None = Field(None, description="Total amount paid")


class Invoice(BaseModel):
    """An invoice sent by a supplier to a customer."""

    issuer: str | None = Field(None, description="Name of the company that issued the invoice (the seller)")
    invoice_number: str | None = Field(None, description="The invoice number")
    issue_date: dt.date | None = Field(None, description="Date the invoice was issued")
    total_amount: float | None = Field(None, description="Total amount due, tax included")
    currency: str | None = Field(None, description="Currency as an ISO 4217 code, e.g. EUR")


class CharityReport(BaseModel):
    """The annual report and accounts of a UK charity."""

    charity_name: str | None = Field(None, description="Name of the charity")
    charity_number: str | None = Field(None, description="Registered charity number")
    report_date: dt.date | None = Field(None, description="End of the financial year the report covers")
    income: float | None = Field(None, description="Total income for that year, in GBP")
    spending: float | None = Field(None, description="Total expenditure for that year, in GBP")
    postcode: str | None = Field(None, description="Postcode of the charity's address")
    post_town: str | None = Field(None, description="Post town of the charity's address")
    street_line: str | None = Field(None, description="Street line of the charity's address, e.g. 12 High Street")
