"""The missing-persons unit's board and case pages. Each stands for its API route and takes
that route's roles (the unit only); every read and every change is audited by the API's own
code."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mdm_server.console.access import ConsoleAccess, ConsolePrincipal
from mdm_server.console.forms import build
from mdm_server.console.templating import render
from mdm_server.deps import ContextDep
from mdm_server.missing_persons import routes as cases_api
from mdm_server.missing_persons.cases import RISK_WORDS, interval_words, missing_for
from mdm_server.missing_persons.schemas import CaseAssign, CaseClose, CaseRegrade, CaseReview

router = APIRouter(prefix="/console/missing-persons", include_in_schema=False)
BoardReader = Annotated[
    ConsolePrincipal, Depends(ConsoleAccess.like(cases_api.missing_persons_board))
]
CaseWorker = Annotated[
    ConsolePrincipal, Depends(ConsoleAccess.like(cases_api.regrade_missing_person_case))
]
Reference = cases_api.Reference
Status = Literal["open", "closed", "all"]
RISK_TONES = {"high": "bad", "medium": "warn", "low": "info", "no_apparent_risk": "muted"}
STATUS_TONES = {"open": "warn", "found": "good", "closed": "muted"}
Text = Annotated[str, Form(max_length=4000)]


def _words() -> dict[str, Any]:
    return {
        "risk_words": RISK_WORDS,
        "risk_tones": RISK_TONES,
        "status_tones": STATUS_TONES,
        "missing_for": missing_for,
        "interval_words": interval_words,
    }


@router.get("")
def missing_persons_board(
    request: Request, principal: BoardReader, context: ContextDep, status: Status = "open"
) -> HTMLResponse:
    """Open cases by risk then time missing, overdue reviews marked in words."""
    board = cases_api.missing_persons_board(principal, context, status=status)
    return render(
        request,
        "missing_persons.html",
        principal=principal,
        board=board,
        status=status,
        statuses=Status.__args__,  # type: ignore[attr-defined]
        **_words(),
    )


@router.get("/{reference}")
def missing_person_case(
    reference: Reference, request: Request, principal: BoardReader, context: ContextDep
) -> HTMLResponse:
    """A case, its timeline and the unit's forms (the read is audited)."""
    case = cases_api.read_missing_person_case(reference, principal, context)
    return render(
        request,
        "missing_person_case.html",
        principal=principal,
        case=case,
        risks=list(RISK_WORDS),
        **_words(),
    )


def _back(reference: str) -> Response:
    return RedirectResponse(f"/console/missing-persons/{reference}", status_code=303)


@router.post("/{reference}/regrade")
def regrade_case(
    reference: Reference,
    principal: CaseWorker,
    context: ContextDep,
    risk: Annotated[str, Form(max_length=32)],
    reason: Text = "",
) -> Response:
    """Grade the case's risk anew, with the reason."""
    body = build(CaseRegrade, risk=risk, reason=reason)
    cases_api.regrade_missing_person_case(reference, body, principal, context)
    return _back(reference)


@router.post("/{reference}/assign")
def assign_case(
    reference: Reference,
    principal: CaseWorker,
    context: ContextDep,
    collar_number: Annotated[str, Form(max_length=32)],
    reason: Text = "",
) -> Response:
    """Give the case to an officer."""
    body = build(CaseAssign, collar_number=collar_number.strip(), reason=reason or None)
    cases_api.assign_missing_person_case(reference, body, principal, context)
    return _back(reference)


@router.post("/{reference}/reviews")
def review_case(
    reference: Reference, principal: CaseWorker, context: ContextDep, note: Text = ""
) -> Response:
    """Record a review of the case."""
    body = build(CaseReview, note=note)
    cases_api.review_missing_person_case(reference, body, principal, context)
    return _back(reference)


@router.post("/{reference}/close")
def close_case(
    reference: Reference,
    principal: CaseWorker,
    context: ContextDep,
    outcome: Annotated[str, Form(max_length=16)] = "found",
    reason: Text = "",
) -> Response:
    """Close the case, as found or withdrawn, with the reason."""
    body = build(CaseClose, outcome=outcome, reason=reason)
    cases_api.close_missing_person_case(reference, body, principal, context)
    return _back(reference)
