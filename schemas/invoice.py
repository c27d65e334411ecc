"""Invoice: who bills whom, for what, and how much."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class LineItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(max_length=80, description="What was sold, as written on the line")
    quantity: Decimal | None = Field(None, max_digits=12, decimal_places=3, description="Quantity")
    unit_price: Decimal | None = Field(None, max_digits=14, decimal_places=2, description="Price of one unit")
    amount: Decimal | None = Field(None, max_digits=14, decimal_places=2, description="Line total")


class Invoice(BaseModel):
    """An invoice or bill sent by a supplier to a customer."""

    model_config = ConfigDict(extra="forbid")

    invoice_number: str | None = Field(
        None, max_length=40, description="The invoice's own number, not an order or PO number"
    )
    issuer: str | None = Field(None, max_length=100, description="Company that issued the invoice")
    recipient: str | None = Field(None, max_length=100, description="Customer the invoice is addressed to")
    invoice_date: dt.date | None = Field(None, description="Date the invoice was issued")
    due_date: dt.date | None = Field(None, description="Date payment is due")
    currency: str | None = Field(None, max_length=3, description="ISO 4217 currency code, e.g. EUR, USD")
    subtotal: Decimal | None = Field(None, max_digits=14, decimal_places=2, description="Total before tax")
    tax: Decimal | None = Field(None, max_digits=14, decimal_places=2, description="Tax (VAT) amount")
    total: Decimal | None = Field(None, max_digits=14, decimal_places=2, description="Total amount due, tax included")
    line_items: list[LineItem] = Field(default_factory=list, max_length=20, description="The invoice lines")


SCHEMA = Invoice
