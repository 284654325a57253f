"""API shapes of safeguarding referrals: the referral an officer raises from the secure side,
and the MASH queue, its referrals, ratings and decisions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from mdm_server.safeguarding.connector import AtRisk, Decision, Rating, Showing
from mdm_server.secure.schemas import Name, ShortText, Strict, Text


def _said(value: str) -> str:
    """A reason with something in it: blank or only spaces is no reason."""
    if not value.strip():
        raise ValueError("give a reason: it cannot be blank")
    return value.strip()


Reason = Annotated[str, StringConstraints(min_length=1, max_length=4000), AfterValidator(_said)]
ReferralReference = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9/-]{2,31}$"),
    Field(description="The referral's reference, as given when it was raised (SG-DEMO-…)."),
]


class SafeguardingReferralBody(Strict):
    """A child or adult at risk, as the officer raising the referral describes them."""

    at_risk: AtRisk = Field(description="A child (under 18) or an adult at risk.")
    surname: Name
    forename: Name
    date_of_birth: date | None = None
    concerns: Text = Field(description="What the officer saw or was told that causes concern.")
    people_involved: Text | None = Field(
        default=None, description="Others involved: family, carers, suspected abusers."
    )
    immediate_actions: Text = Field(
        description="What the officer did at once (removed to safety, called an ambulance…)."
    )
    location: ShortText


class RatingBody(Strict):
    rating: Rating = Field(description="red, amber or green, as triaged.")
    reason: Reason


class DecisionBody(Strict):
    decision: Decision
    reason: Reason = Field(description="The reasons for the decision.")


class ReferralSummary(BaseModel):
    """A referral in the queue: who is at risk, its age against the triage deadline, its
    rating and decision."""

    reference: str
    at_risk: AtRisk
    surname: str
    forename: str
    division: str | None
    raised_by: str = Field(description="The raising officer's collar number.")
    raised_at: datetime
    deadline: datetime = Field(description="When the decision is due (triage deadline).")
    age_s: int = Field(description="Seconds since it was raised.")
    overdue: bool = Field(description="Past the deadline with no decision.")
    rating: Rating | None
    decision: Decision | None
    decided_at: datetime | None


class ReferralDetail(ReferralSummary):
    """A referral with what the officer wrote and the triage so far."""

    date_of_birth: date | None
    concerns: str
    people_involved: str | None
    immediate_actions: str
    location: str
    rating_reason: str | None
    rated_by: str | None
    rated_at: datetime | None
    decision_reason: str | None
    decided_by: str | None


class ReferralPage(BaseModel):
    showing: Showing
    triage_hours: int
    items: list[ReferralSummary]
    total: int


class ReferralCounts(BaseModel):
    """A division's referrals in numbers only: no names, no contents."""

    division: str
    waiting: int
    overdue: int
    generated_at: datetime
