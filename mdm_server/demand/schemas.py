"""API shapes of the demand view."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class TypeSeries(BaseModel):
    type: str
    counts: list[int] = Field(description="One count per bucket, oldest first.")


class Buckets(BaseModel):
    """Answered transactions per type over consecutive buckets (hours or days, in UTC), oldest
    first, so the newest is last; refused and unanswered ones apart, never in `series` or
    `total`."""

    starts: list[datetime] = Field(description="Each bucket's start (UTC), oldest first.")
    series: list[TypeSeries] = Field(description="Answered transactions, one series per type.")
    total: int = Field(description="Answered transactions in all the buckets.")
    refused: list[int] = Field(
        description="Transactions the server refused (policy), per bucket; not in `total`."
    )
    refused_total: int
    unanswered: list[int] = Field(
        description="Transactions the records system did not answer, per bucket; not in `total`."
    )
    unanswered_total: int


class Workload(BaseModel):
    """Missing-person and safeguarding work per day (answered transactions), over the same
    days."""

    starts: list[datetime]
    missing_person: list[int]
    safeguarding: list[int]


class DivisionHealth(BaseModel):
    devices: int
    by_compliance: dict[str, int]
    not_seen_24h: int
    lost: int


class Demand(BaseModel):
    division: str
    generated_at: datetime
    hourly: Buckets = Field(description="The last 24 hours, by hour.")
    daily: Buckets = Field(description="The last `days` days, by day.")
    workload: Workload
    health: DivisionHealth
