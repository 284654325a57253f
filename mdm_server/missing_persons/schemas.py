"""API shapes of missing-person cases: the unit's board and case, its actions, a supervisor's
counts, and what officers send from the secure side (docs/missing-persons.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from mdm_server.secure.report_schemas import ReportReference
from mdm_server.secure.schemas import ShortText, Strict, Text
from mdm_server.validation import CollarNumber

Risk = Literal["high", "medium", "low", "no_apparent_risk"]
Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=500),
    Field(description="Why, in a few words; kept on the case's timeline."),
]
UpdateKind = Literal["sighting", "welfare_check", "found"]


class CaseEntryPublic(BaseModel):
    kind: str
    note: str | None
    detail: dict[str, Any]
    by: str
    at: datetime


class CaseSummary(BaseModel):
    """A case as the board lists it."""

    reference: str
    surname: str
    forename: str
    risk: Risk
    status: Literal["open", "found", "closed"]
    division: str | None
    last_seen_at: datetime
    last_seen_location: str
    missing_for_s: int = Field(description="Seconds since last seen, to the server's time.")
    reported_by: str
    assigned_to: str | None
    opened_at: datetime
    reviewed_at: datetime | None
    review_due_at: datetime | None = Field(description="None once the case is closed.")
    review_overdue: bool


class CasePublic(CaseSummary):
    """A case read on its own, with its timeline."""

    date_of_birth: date | None
    description: str
    closed_at: datetime | None
    outcome: str | None
    timeline: list[CaseEntryPublic]


class Board(BaseModel):
    """Open cases by risk (high first) then time missing (longest first), then found cases
    waiting to be closed."""

    cases: list[CaseSummary]
    overdue: int
    review_intervals_minutes: dict[str, int]


class OpenByRisk(BaseModel):
    """How many of a division's cases are open, by risk: counts, never names."""

    division: str
    open_by_risk: dict[str, int]
    total: int


class CaseRegrade(Strict):
    risk: Risk
    reason: Reason


class CaseAssign(Strict):
    collar_number: CollarNumber = Field(description="The officer the case goes to.")
    reason: Reason | None = None


class CaseReview(Strict):
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=4000)]


class CaseClose(Strict):
    outcome: Literal["found", "withdrawn"] = Field(
        default="found", description="found, or withdrawn when the report is withdrawn."
    )
    reason: Reason


class MissingPersonUpdateBody(Strict):
    """A sighting, a welfare check or word that the person is found, added from the secure
    side to a case the officer reported or is assigned."""

    reference: ReportReference
    kind: UpdateKind
    note: Text
    location: ShortText | None = None
    seen_at: AwareDatetime | None = Field(
        default=None, description="When the person was seen, for a sighting or found."
    )


class MissingPersonCasesQuery(Strict):
    """One case the officer reported or is assigned (with `reference`), or all of them."""

    reference: ReportReference | None = None
