"""What the records system does for safeguarding: keep a referral an officer raises, read it,
list the queue, and record the MASH team's rating and decision. A force's own records system
implements `SafeguardingRecords` behind the records connector; the demo connector keeps
referrals in Tabard's own tables (mdm_server/records/safeguarding_demo.py).

The words here are the ones UK multi-agency safeguarding hubs use: a referral concerns a child
or an adult at risk, is rated red, amber or green at triage, and ends in a decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlmodel import Session

from mdm_server.records.filed import RecordsCall

AtRisk = Literal["child", "adult"]
Rating = Literal["red", "amber", "green"]
Decision = Literal[
    "childrens_social_care", "adults_social_care", "police_action", "no_further_action"
]
Showing = Literal["waiting", "overdue", "decided", "all"]

RATINGS: tuple[Rating, ...] = ("red", "amber", "green")
DECISIONS: tuple[Decision, ...] = (
    "childrens_social_care",
    "adults_social_care",
    "police_action",
    "no_further_action",
)
DECISION_WORDS: dict[str, str] = {
    "childrens_social_care": "referred to children's social care",
    "adults_social_care": "referred to adults' social care",
    "police_action": "police action",
    "no_further_action": "no further action",
}


@dataclass(frozen=True)
class DepartmentCall:
    """Who in a department reads or changes a record, and when. `session` is the request's
    unit of work (for the demo connector, as in `RecordsCall`); `by` the staff username."""

    session: Session
    by: str
    now: datetime


@dataclass(frozen=True)
class Referral:
    """A safeguarding referral as it stands: what the officer raised (`fields`, as filed) and
    where triage has got to."""

    reference: str
    at_risk: AtRisk
    division: str | None
    raised_by: str
    raised_at: datetime
    fields: dict[str, Any]
    rating: Rating | None = None
    rating_reason: str | None = None
    rated_by: str | None = None
    rated_at: datetime | None = None
    decision: Decision | None = None
    decision_reason: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None


class SafeguardingRecords(Protocol):
    """The records methods the MASH queue works through."""

    def raise_referral(
        self, referral: dict[str, Any], *, division: str | None, call: RecordsCall
    ) -> str:
        """Keep a referral an officer raised; returns its reference. `referral` is the report
        as filed (its `at_risk` is "child" or "adult"); `division` is the raising officer's."""
        ...

    def read_referral(
        self, reference: str, *, call: DepartmentCall, for_update: bool = False
    ) -> Referral | None:
        """The referral with that reference, if it exists; `for_update` holds it against
        other changes until the unit of work ends, where the records system can."""
        ...

    def referral_queue(
        self,
        *,
        showing: Showing,
        overdue_before: datetime,
        limit: int,
        offset: int,
        call: DepartmentCall,
    ) -> tuple[list[Referral], int]:
        """A page of the queue and how many match: waiting referrals (no decision) oldest
        first, then decided ones most recently decided first. A referral raised before
        `overdue_before` and not decided is overdue."""
        ...

    def rate_referral(
        self, reference: str, rating: Rating, reason: str, *, call: DepartmentCall
    ) -> None:
        """Record the triage rating, with the reason, who and when."""
        ...

    def decide_referral(
        self, reference: str, decision: Decision, reason: str, *, call: DepartmentCall
    ) -> None:
        """Record the decision, with the reasons, who and when."""
        ...

    def referral_counts(
        self, *, division: str, overdue_before: datetime, call: DepartmentCall
    ) -> tuple[int, int]:
        """How many of a division's referrals wait for a decision, and how many of those are
        overdue: numbers only."""
        ...
