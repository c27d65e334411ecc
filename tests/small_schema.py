"""A small schema with every field kind and tight bounds, so a random model's answer always fits."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=6)
    qty: int | None = None


class Small(BaseModel):
    """A tiny test document."""

    model_config = ConfigDict(extra="forbid")
    ref: str | None = Field(None, max_length=8, description="A reference")
    amount: Decimal | None = Field(None, max_digits=6, decimal_places=2)
    ratio: float | None = None
    day: dt.date | None = None
    at: dt.datetime | None = None
    paid: bool | None = None
    kind: Literal["a", "b"] = "a"
    tags: list[str] = Field(default_factory=list, max_length=2)
    items: list[Item] = Field(default_factory=list, max_length=2)
