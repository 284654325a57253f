"""Missing-person cases as every records connector returns them, whatever system holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

# Risk as UK forces grade a missing person (College of Policing APP, Missing persons), most
# urgent first.
RISKS: tuple[str, ...] = ("high", "medium", "low", "no_apparent_risk")
Risk = Literal["high", "medium", "low", "no_apparent_risk"]
CaseStatus = Literal["open", "found", "closed"]
# What a case's timeline records: officers add the first three from the secure side.
EntryKind = Literal[
    "opened", "sighting", "welfare_check", "found", "regraded", "assigned", "review", "closed"
]


@dataclass(frozen=True)
class CaseEntry:
    """One line of a case's timeline: what happened, who recorded it, when, and under which
    transaction or action."""

    kind: str
    note: str | None
    detail: dict[str, Any]
    by: str
    at: datetime
    transaction_id: str


@dataclass(frozen=True)
class NewCase:
    """What a missing-person registration opens a case with."""

    reference: str
    surname: str
    forename: str
    date_of_birth: date | None
    description: str
    last_seen_at: datetime
    last_seen_location: str
    risk: str
    division: str | None


@dataclass(frozen=True)
class Case:
    """A case as it stands; `timeline` is filled only where a case is read on its own."""

    reference: str
    surname: str
    forename: str
    date_of_birth: date | None
    description: str
    last_seen_at: datetime
    last_seen_location: str
    risk: str
    status: str
    division: str | None
    reported_by: str
    assigned_to: str | None
    opened_at: datetime
    reviewed_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    timeline: list[CaseEntry] = field(default_factory=list)
