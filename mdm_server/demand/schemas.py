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


class TypeComparison(BaseModel):
    """One transaction type's answered demand in the last 24 hours and in the same 24 hours a
    week before."""

    type: str
    last_24h: int
    same_24h_last_week: int


class BusyHour(BaseModel):
    """One hour of the day (UTC): answered transactions that began in it on each day of the
    week, summed over the weeks counted."""

    hour: int = Field(ge=0, le=23, description="The hour of the day (UTC), 0 to 23.")
    monday: int
    tuesday: int
    wednesday: int
    thursday: int
    friday: int
    saturday: int
    sunday: int


class BusiestHours(BaseModel):
    """Answered transactions by hour of the day and day of the week over whole weeks, each
    hour of the week counted once a week; the hour still running is left out."""

    since: datetime = Field(description="The first hour counted (UTC).")
    until: datetime = Field(description="The end of the last hour counted (UTC).")
    weeks: int
    hours: list[BusyHour] = Field(description="One row per hour of the day, 00:00 first.")
    total: int


class Departments(BaseModel):
    """What the division's departments have open, in numbers only: no names, no contents."""

    missing_persons_open: dict[str, int] = Field(
        description="Open missing-person cases by risk, highest first, every grade (zeros too)."
    )
    missing_persons_total: int
    referrals_waiting: int = Field(
        description="Safeguarding referrals waiting for the MASH team's decision."
    )
    referrals_overdue: int = Field(description="Of those, how many are past the triage deadline.")


class Demand(BaseModel):
    division: str
    generated_at: datetime
    hourly: Buckets = Field(description="The last 24 hours, by hour.")
    last_week: Buckets = Field(
        description="The same 24 hours a week before, by hour, the last bucket counted only "
        "to the same minute as now, so it compares with the hour still running."
    )
    by_type: list[TypeComparison] = Field(
        description="Answered transactions per type: the last 24 hours beside the same 24 "
        "hours a week before."
    )
    busiest: BusiestHours
    daily: Buckets = Field(description="The last `days` days, by day.")
    workload: Workload
    departments: Departments
    health: DivisionHealth
