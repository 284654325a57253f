"""API shapes of the demand view."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class TypeSeries(BaseModel):
    type: str
    counts: list[int] = Field(description="One count per bucket, oldest first.")


class Buckets(BaseModel):
    """Transactions per type over consecutive buckets (hours or days, in UTC)."""

    starts: list[datetime]
    series: list[TypeSeries]
    total: int


class Workload(BaseModel):
    """Missing-person and safeguarding work per day, over the same days."""

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
