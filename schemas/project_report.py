"""Project report: the facts an NGO or funder pulls out of narrative project reports."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class ProjectReport(BaseModel):
    """A narrative report about a development, research or aid project."""

    model_config = ConfigDict(extra="forbid")

    # prefer "first": in a long report read in parts, the title page names the project and its organisation.
    project_name: str | None = Field(
        None, max_length=120, description="Name or title of the project", json_schema_extra={"prefer": "first"}
    )
    organisation: str | None = Field(
        None,
        max_length=100,
        description="Organisation that runs the project and wrote the report",
        json_schema_extra={"prefer": "first"},
    )
    countries: list[str] = Field(
        default_factory=list, max_length=15, description="Countries where the project takes place"
    )
    start_date: dt.date | None = Field(None, description="Date the project started")
    end_date: dt.date | None = Field(None, description="Date the project ends or ended")
    budget: Decimal | None = Field(None, max_digits=16, decimal_places=2, description="Total project budget")
    currency: str | None = Field(None, max_length=3, description="ISO 4217 code of the budget's currency")
    partners: list[str] = Field(
        default_factory=list, max_length=15, description="Partner organisations named in the report"
    )
    outcomes: list[str] = Field(
        default_factory=list, max_length=8, description="Main results or outcomes, one short sentence each"
    )


SCHEMA = ProjectReport
