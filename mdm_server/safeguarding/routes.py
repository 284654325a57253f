"""The MASH queue over HTTP: for the MASH team only, every read audited; and a division's
referral counts for its supervisor (numbers only: no names, no contents). Officers raise and
read their own referrals through the secure side's transactions, never here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from mdm_server.auth.roles import Role
from mdm_server.deps import ContextDep, StaffAccess, StaffPrincipal, Supervisor
from mdm_server.errors import PermissionDeniedError, error_responses
from mdm_server.safeguarding import service
from mdm_server.safeguarding.connector import Showing
from mdm_server.safeguarding.schemas import (
    DecisionBody,
    RatingBody,
    ReferralCounts,
    ReferralDetail,
    ReferralPage,
    ReferralReference,
)

router = APIRouter(prefix="/api/v1/safeguarding", tags=["safeguarding"])
Mash = Annotated[StaffPrincipal, Depends(StaffAccess(Role.mash))]
Reference = Annotated[ReferralReference, Path(description="The referral's reference.")]


@router.get("/referrals")
def referral_queue(
    caller: Mash,
    context: ContextDep,
    showing: Annotated[
        Showing,
        Query(description="waiting (default: no decision yet), overdue, decided or all."),
    ] = "waiting",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ReferralPage:
    """The MASH queue: waiting referrals oldest first with their age against the triage
    deadline, then decided ones (the read is audited)."""
    with context.database.unit_of_work() as session:
        return service.queue(
            session,
            records=context.records,
            keys=context.subject_keys,
            showing=showing,
            limit=limit,
            offset=offset,
            triage_hours=context.settings.safeguarding_triage_hours,
            actor=caller.actor,
            now=context.clock(),
        )


@router.get("/referrals/{reference}", responses=error_responses(404))
def read_referral(reference: Reference, caller: Mash, context: ContextDep) -> ReferralDetail:
    """One referral in full: who is at risk, the concerns, the triage so far (audited)."""
    with context.database.unit_of_work() as session:
        return service.read(
            session,
            records=context.records,
            keys=context.subject_keys,
            reference=reference,
            triage_hours=context.settings.safeguarding_triage_hours,
            actor=caller.actor,
            now=context.clock(),
        )


@router.post("/referrals/{reference}/rating", responses=error_responses(404, 409))
def rate_referral(
    reference: Reference, body: RatingBody, caller: Mash, context: ContextDep
) -> ReferralDetail:
    """Rate a waiting referral red, amber or green, with the reason (audited)."""
    with context.database.unit_of_work() as session:
        return service.rate(
            session,
            records=context.records,
            keys=context.subject_keys,
            reference=reference,
            rating=body.rating,
            reason=body.reason,
            triage_hours=context.settings.safeguarding_triage_hours,
            actor=caller.actor,
            now=context.clock(),
        )


@router.post("/referrals/{reference}/decision", responses=error_responses(404, 409))
def decide_referral(
    reference: Reference, body: DecisionBody, caller: Mash, context: ContextDep
) -> ReferralDetail:
    """Record the decision on a rated referral, with the reasons; once only (audited)."""
    with context.database.unit_of_work() as session:
        return service.decide(
            session,
            records=context.records,
            keys=context.subject_keys,
            reference=reference,
            decision=body.decision,
            reason=body.reason,
            triage_hours=context.settings.safeguarding_triage_hours,
            actor=caller.actor,
            now=context.clock(),
        )


@router.get("/counts")
def referral_counts(caller: Supervisor, context: ContextDep) -> ReferralCounts:
    """How many of the caller's division's referrals wait for a decision, and how many are
    overdue: numbers only."""
    if caller.division is None:
        raise PermissionDeniedError("your account has no division; ask IT to set one")
    now = context.clock()
    with context.database.unit_of_work(write=False) as session:
        waiting, overdue = service.referral_counts(
            session,
            division=caller.division,
            now=now,
            triage_hours=context.settings.safeguarding_triage_hours,
            records=context.records,
        )
    return ReferralCounts(
        division=caller.division, waiting=waiting, overdue=overdue, generated_at=now
    )
