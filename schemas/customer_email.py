"""Customer email: what the customer wants, about which order, and how they feel."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CustomerEmail(BaseModel):
    """An email from a customer to a company's support or sales team."""

    model_config = ConfigDict(extra="forbid")

    intent: Literal["order", "complaint", "refund", "question", "other"] = Field(description="Why the customer writes")
    customer_name: str | None = Field(None, max_length=80, description="Name of the customer who wrote")
    customer_email: str | None = Field(None, max_length=120, description="The customer's email address")
    order_reference: str | None = Field(
        None, max_length=40, description="Order, invoice or account number the email is about"
    )
    products: list[str] = Field(default_factory=list, max_length=10, description="Products or services mentioned")
    requested_action: str | None = Field(
        None,
        max_length=160,
        description="What the customer asks the company to do",
        json_schema_extra={"extractive": False},  # a short phrase in the model's words, not a quote
    )
    urgency: Literal["low", "medium", "high"] = Field(description="How urgent the request is")
    sentiment: Literal["negative", "neutral", "positive"] = Field(description="The customer's tone")


SCHEMA = CustomerEmail
