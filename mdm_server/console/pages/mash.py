"""The MASH queue in the console, for the MASH team only: waiting referrals with their age
against the triage deadline (overdue said in words), a referral in full with its rating and
decision forms. Every read and change is audited by the API's own code."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mdm_server.console.access import ConsoleAccess, ConsolePrincipal
from mdm_server.console.forms import build
from mdm_server.console.templating import render
from mdm_server.deps import ContextDep
from mdm_server.safeguarding import routes as mash_api
from mdm_server.safeguarding import words
from mdm_server.safeguarding.connector import DECISION_WORDS, RATINGS, Showing
from mdm_server.safeguarding.schemas import DecisionBody, RatingBody, ReferralReference
from mdm_server.safeguarding.service import FITS

router = APIRouter(prefix="/console/mash", include_in_schema=False)
MashReader = Annotated[ConsolePrincipal, Depends(ConsoleAccess.like(mash_api.referral_queue))]
MashWriter = Annotated[ConsolePrincipal, Depends(ConsoleAccess.like(mash_api.decide_referral))]
PAGE = 50
SHOWING: tuple[Showing, ...] = ("waiting", "overdue", "decided", "all")


@router.get("")
def referral_queue(
    request: Request,
    principal: MashReader,
    context: ContextDep,
    showing: Showing = "waiting",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """The queue: waiting referrals oldest first, each with its age against the deadline."""
    page = mash_api.referral_queue(principal, context, showing=showing, limit=PAGE, offset=offset)
    return render(
        request,
        "mash_queue.html",
        principal=principal,
        page=page,
        showing=showing,
        choices=SHOWING,
        offset=offset,
        size=PAGE,
        words=words,
    )


@router.get("/{reference}")
def referral_page(
    reference: ReferralReference,
    request: Request,
    principal: MashReader,
    context: ContextDep,
) -> HTMLResponse:
    """A referral in full, with the rating and decision forms (the read is audited)."""
    referral = mash_api.read_referral(reference, principal, context)
    hours = context.settings.safeguarding_triage_hours
    fits = [  # only the decisions that fit the person at risk
        (code, text)
        for code, text in DECISION_WORDS.items()
        if referral.at_risk in FITS.get(code, {referral.at_risk})
    ]
    return render(
        request,
        "mash_referral.html",
        principal=principal,
        referral=referral,
        triage_hours=hours,
        ratings=RATINGS,
        decisions=fits,
        words=words,
    )


@router.post("/{reference}/rating")
def rate_referral(
    reference: ReferralReference,
    principal: MashWriter,
    context: ContextDep,
    rating: Annotated[str, Form(max_length=8)],
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Rate the referral red, amber or green, with the reason."""
    body = build(RatingBody, rating=rating, reason=reason)
    done = mash_api.rate_referral(reference, body, principal, context)
    return RedirectResponse(f"/console/mash/{done.reference}", status_code=303)


@router.post("/{reference}/decision")
def decide_referral(
    reference: ReferralReference,
    principal: MashWriter,
    context: ContextDep,
    decision: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Record the decision, with the reasons."""
    body = build(DecisionBody, decision=decision, reason=reason)
    done = mash_api.decide_referral(reference, body, principal, context)
    return RedirectResponse(f"/console/mash/{done.reference}", status_code=303)
