"""The appropriate-use flag queue and its review, for professional standards. Flags are leads
for human review, never verdicts; every read and decision is audited by the API's own code."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mdm_server.appropriate_use import routes as flags_api
from mdm_server.appropriate_use.schemas import FlagNoteAdd, FlagReview
from mdm_server.console.access import ConsoleAccess, ConsolePrincipal
from mdm_server.console.forms import build
from mdm_server.console.templating import render
from mdm_server.deps import ContextDep

router = APIRouter(prefix="/console/flags", include_in_schema=False)
FlagReader = Annotated[ConsolePrincipal, Depends(ConsoleAccess.like(flags_api.flag_queue))]
FlagReviewer = Annotated[ConsolePrincipal, Depends(ConsoleAccess.like(flags_api.review_flag))]
Status = Literal["open", "dismissed", "escalated", "all"]


@router.get("")
def flag_queue(
    request: Request,
    principal: FlagReader,
    context: ContextDep,
    status: Status = "open",
    officer: Annotated[str | None, Query(max_length=16)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """Flags, highest score first."""
    page = flags_api.flag_queue(
        principal,
        context,
        status=status,
        officer=officer or None,
        rule=None,
        limit=50,
        offset=offset,
    )
    return render(
        request,
        "flags.html",
        principal=principal,
        page=page,
        status=status,
        officer=officer or "",
        statuses=Status.__args__,  # type: ignore[attr-defined]
        offset=offset,
    )


@router.get("/{flag_id}")
def flag_page(
    flag_id: uuid.UUID,
    request: Request,
    principal: FlagReader,
    context: ContextDep,
) -> HTMLResponse:
    """A flag with its evidence and notes, and the review form (the read is audited)."""
    flag = flags_api.read_flag(str(flag_id), principal, context)
    return render(request, "flag.html", principal=principal, flag=flag)


@router.post("/{flag_id}/review")
def review_flag(
    flag_id: uuid.UUID,
    principal: FlagReviewer,
    context: ContextDep,
    decision: Annotated[str, Form(max_length=16)],
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Dismiss, escalate or reopen, always with a note; or add a note alone."""
    if decision == "note":
        flags_api.note_flag(str(flag_id), build(FlagNoteAdd, note=note), principal, context)
    else:
        body = build(FlagReview, decision=decision, note=note)
        flags_api.review_flag(str(flag_id), body, principal, context)
    return RedirectResponse(f"/console/flags/{flag_id}", status_code=303)
