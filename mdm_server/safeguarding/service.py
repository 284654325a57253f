"""The MASH queue's rules: the queue with each referral's age against the triage deadline,
reading one referral, rating it and recording the decision, all through the records
connector, and a division's counts for its supervisor. Every read and change is an audit event
in the same unit of work, with the subject keys of the person at risk and of the referral's
reference, so professional standards find it with the auditor's search (docs/audit.md). Never
commits."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.audit.subjects import SubjectKeys, unique
from mdm_server.errors import ConflictError, NotFoundError, UnprocessableError, quoted
from mdm_server.records.safeguarding_demo import DemoSafeguarding
from mdm_server.safeguarding.connector import (
    DECISION_WORDS,
    Decision,
    DepartmentCall,
    Rating,
    Referral,
    SafeguardingRecords,
    Showing,
)
from mdm_server.safeguarding.schemas import (
    ReferralDetail,
    ReferralPage,
    ReferralSummary,
)

DEFAULT_TRIAGE_HOURS = 24
# Which decision fits whom: social care for children is not social care for adults.
FITS: dict[str, frozenset[str]] = {
    "childrens_social_care": frozenset({"child"}),
    "adults_social_care": frozenset({"adult"}),
}


def _keys(keys: SubjectKeys, referral: Referral) -> list[str]:
    fields = referral.fields
    found = [keys.incident(referral.reference)]
    if fields.get("surname"):
        found += keys.person(fields["surname"], fields.get("forename"), fields.get("date_of_birth"))
    return found


def summary(referral: Referral, *, triage: timedelta, now: datetime) -> ReferralSummary:
    """A referral in the queue, its age and deadline worked out at `now`."""
    deadline = referral.raised_at + triage
    return ReferralSummary(
        reference=referral.reference,
        at_risk=referral.at_risk,
        surname=str(referral.fields.get("surname", "")),
        forename=str(referral.fields.get("forename", "")),
        division=referral.division,
        raised_by=referral.raised_by,
        raised_at=referral.raised_at,
        deadline=deadline,
        age_s=max(0, int((now - referral.raised_at).total_seconds())),
        overdue=referral.decided_at is None and now > deadline,
        rating=referral.rating,
        decision=referral.decision,
        decided_at=referral.decided_at,
    )


def detail(referral: Referral, *, triage: timedelta, now: datetime) -> ReferralDetail:
    """A referral with what the officer wrote and its triage so far."""
    fields = referral.fields
    return ReferralDetail(
        **summary(referral, triage=triage, now=now).model_dump(),
        date_of_birth=fields.get("date_of_birth"),
        concerns=str(fields.get("concerns", "")),
        people_involved=fields.get("people_involved"),
        immediate_actions=str(fields.get("immediate_actions", "")),
        location=str(fields.get("location", "")),
        rating_reason=referral.rating_reason,
        rated_by=referral.rated_by,
        rated_at=referral.rated_at,
        decision_reason=referral.decision_reason,
        decided_by=referral.decided_by,
    )


def queue(
    session: Session,
    *,
    records: SafeguardingRecords,
    keys: SubjectKeys,
    showing: Showing,
    limit: int,
    offset: int,
    triage_hours: int,
    actor: Actor,
    now: datetime,
) -> ReferralPage:
    """A page of the queue (waiting referrals oldest first, then decided ones); the read is
    audited with every referral it showed."""
    triage = timedelta(hours=triage_hours)
    call = DepartmentCall(session=session, by=actor.name or "", now=now)
    referrals, total = records.referral_queue(
        showing=showing, overdue_before=now - triage, limit=limit, offset=offset, call=call
    )
    shown = [referral.reference for referral in referrals]
    record(
        session,
        actor=actor,
        action="safeguarding.queue_read",
        now=now,
        target_type="safeguarding_queue",
        detail={
            "showing": showing,
            "offset": offset,
            "total": total,
            "references": shown,
            "subject_keys": unique(key for one in referrals for key in _keys(keys, one)),
        },
    )
    return ReferralPage(
        showing=showing,
        triage_hours=triage_hours,
        items=[summary(one, triage=triage, now=now) for one in referrals],
        total=total,
    )


def _referral(
    records: SafeguardingRecords, reference: str, call: DepartmentCall, *, for_update: bool
) -> Referral:
    referral = records.read_referral(reference.upper(), call=call, for_update=for_update)
    if referral is None:
        raise NotFoundError(
            f"no safeguarding referral has the reference {quoted(reference)}: use the reference "
            "the queue shows",
            code="referral_not_found",
        )
    return referral


def _audit(
    session: Session,
    action: str,
    referral: Referral,
    *,
    keys: SubjectKeys,
    actor: Actor,
    now: datetime,
    **extra: Any,
) -> None:
    record(
        session,
        actor=actor,
        action=f"safeguarding.{action}",
        now=now,
        target_type="safeguarding_referral",
        target_id=referral.reference,
        detail={
            "reference": referral.reference,
            "at_risk": referral.at_risk,
            "raised_by": referral.raised_by,
            "subject_keys": unique(_keys(keys, referral)),
            **extra,
        },
    )


def read(
    session: Session,
    *,
    records: SafeguardingRecords,
    keys: SubjectKeys,
    reference: str,
    triage_hours: int,
    actor: Actor,
    now: datetime,
) -> ReferralDetail:
    """One referral, in full; the read is audited."""
    call = DepartmentCall(session=session, by=actor.name or "", now=now)
    referral = _referral(records, reference, call, for_update=False)
    _audit(session, "referral_read", referral, keys=keys, actor=actor, now=now)
    return detail(referral, triage=timedelta(hours=triage_hours), now=now)


def rate(
    session: Session,
    *,
    records: SafeguardingRecords,
    keys: SubjectKeys,
    reference: str,
    rating: Rating,
    reason: str,
    triage_hours: int,
    actor: Actor,
    now: datetime,
) -> ReferralDetail:
    """Rate a waiting referral red, amber or green (again, if triage changes its mind), with
    the reason; audited."""
    call = DepartmentCall(session=session, by=actor.name or "", now=now)
    referral = _referral(records, reference, call, for_update=True)
    if referral.decision is not None:
        raise ConflictError(
            f"{referral.reference} was decided ({DECISION_WORDS[referral.decision]}); a decided "
            "referral is not rated again",
            code="referral_decided",
        )
    records.rate_referral(referral.reference, rating, reason, call=call)
    _audit(
        session,
        "referral_rated",
        referral,
        keys=keys,
        actor=actor,
        now=now,
        rating=rating,
        rating_before=referral.rating,
    )
    return read_back(records, referral.reference, call, triage_hours)


def decide(
    session: Session,
    *,
    records: SafeguardingRecords,
    keys: SubjectKeys,
    reference: str,
    decision: Decision,
    reason: str,
    triage_hours: int,
    actor: Actor,
    now: datetime,
) -> ReferralDetail:
    """Record the decision on a rated referral, with the reasons; once only; audited."""
    call = DepartmentCall(session=session, by=actor.name or "", now=now)
    referral = _referral(records, reference, call, for_update=True)
    if referral.decision is not None:
        raise ConflictError(
            f"{referral.reference} was already decided ({DECISION_WORDS[referral.decision]}) "
            "and a decision is recorded once",
            code="referral_decided",
        )
    if referral.rating is None:
        raise ConflictError(
            f"{referral.reference} has no rating yet: rate it red, amber or green first",
            code="referral_not_rated",
        )
    fits = FITS.get(decision)
    if fits is not None and referral.at_risk not in fits:
        raise UnprocessableError(
            [
                {
                    "field": "decision",
                    "problem": f"{DECISION_WORDS[decision]} does not fit: the person at risk is "
                    f"{'a child' if referral.at_risk == 'child' else 'an adult'}",
                }
            ]
        )
    records.decide_referral(referral.reference, decision, reason, call=call)
    _audit(
        session,
        "referral_decided",
        referral,
        keys=keys,
        actor=actor,
        now=now,
        decision=decision,
        rating=referral.rating,
    )
    return read_back(records, referral.reference, call, triage_hours)


def read_back(
    records: SafeguardingRecords, reference: str, call: DepartmentCall, triage_hours: int
) -> ReferralDetail:
    """The referral as a change left it (the change's own event covers this read)."""
    referral = _referral(records, reference, call, for_update=False)
    return detail(referral, triage=timedelta(hours=triage_hours), now=call.now)


def referral_counts(
    session: Session,
    *,
    division: str,
    now: datetime,
    triage_hours: int = DEFAULT_TRIAGE_HOURS,
    records: SafeguardingRecords | None = None,
) -> tuple[int, int]:
    """How many of the division's referrals wait for a decision, and how many of those are
    overdue: numbers only, for the supervisor's view. The demo connector answers unless
    another records system is given."""
    source = records if records is not None else DemoSafeguarding()
    call = DepartmentCall(session=session, by="", now=now)
    return source.referral_counts(
        division=division, overdue_before=now - timedelta(hours=triage_hours), call=call
    )
