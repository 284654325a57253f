"""Rules every view of a case shares: review intervals by risk, what is overdue, the board's
order, and a case turned into its API shape. Pure: time is a parameter."""

from __future__ import annotations

from datetime import datetime, timedelta

from mdm_server.config import Settings
from mdm_server.missing_persons.schemas import CaseEntryPublic, CasePublic, CaseSummary
from mdm_server.records.cases import RISKS, Case

# Each grade in words, for people: pages, CLI tables and messages.
RISK_WORDS = {
    "high": "high",
    "medium": "medium",
    "low": "low",
    "no_apparent_risk": "no apparent risk",
}
# Open cases first, then found ones waiting to be closed, then closed.
_STATUS_ORDER = {"open": 0, "found": 1, "closed": 2}


def review_intervals(settings: Settings) -> dict[str, timedelta]:
    """How often a case of each risk is reviewed at least (TABARD_MISSING_PERSON_REVIEW_*)."""
    return {
        "high": timedelta(minutes=settings.missing_person_review_high_minutes),
        "medium": timedelta(minutes=settings.missing_person_review_medium_minutes),
        "low": timedelta(minutes=settings.missing_person_review_low_minutes),
        "no_apparent_risk": timedelta(
            minutes=settings.missing_person_review_no_apparent_risk_minutes
        ),
    }


def review_due(case: Case, intervals: dict[str, timedelta]) -> datetime | None:
    """When the next review falls due: its interval after the last review, or after opening."""
    if case.status == "closed":
        return None
    return (case.reviewed_at or case.opened_at) + intervals[case.risk]


def board_order(cases: list[Case]) -> list[Case]:
    """Open cases by risk (high first) then time missing (longest first); then found ones."""
    return sorted(
        cases,
        key=lambda case: (
            _STATUS_ORDER.get(case.status, 3),
            RISKS.index(case.risk),
            case.last_seen_at,
        ),
    )


def summary(case: Case, intervals: dict[str, timedelta], *, now: datetime) -> CaseSummary:
    due = review_due(case, intervals)
    return CaseSummary(
        reference=case.reference,
        surname=case.surname,
        forename=case.forename,
        risk=case.risk,
        status=case.status,
        division=case.division,
        last_seen_at=case.last_seen_at,
        last_seen_location=case.last_seen_location,
        missing_for_s=max(0, int((now - case.last_seen_at).total_seconds())),
        reported_by=case.reported_by,
        assigned_to=case.assigned_to,
        opened_at=case.opened_at,
        reviewed_at=case.reviewed_at,
        review_due_at=due,
        review_overdue=case.status == "open" and due is not None and now > due,
    )


def public(case: Case, intervals: dict[str, timedelta], *, now: datetime) -> CasePublic:
    return CasePublic(
        **summary(case, intervals, now=now).model_dump(),
        date_of_birth=case.date_of_birth,
        description=case.description,
        closed_at=case.closed_at,
        outcome=case.outcome,
        timeline=[
            CaseEntryPublic(
                kind=entry.kind, note=entry.note, detail=entry.detail, by=entry.by, at=entry.at
            )
            for entry in case.timeline
        ],
    )


def missing_for(seconds: int) -> str:
    """How long someone has been missing, in days, hours and minutes: `1 d 4 h 5 min`."""
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    parts = [f"{days} d"] if days else []
    parts += [f"{hours} h"] if days or hours else []
    return " ".join([*parts, f"{minutes} min"])


def interval_words(minutes: int) -> str:
    """A review interval for people: `hour`, `4 hours`, `90 minutes`."""
    if minutes % 60:
        return f"{minutes} minutes"
    hours = minutes // 60
    return "hour" if hours == 1 else f"{hours} hours"
