"""Officers' pages: their device, reporting it lost, their usage, the appropriate-use policy."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mdm_server.commands import routes as commands_api
from mdm_server.commands.schemas import LostDeviceReport
from mdm_server.console.access import ConsoleAccess, ConsolePrincipal
from mdm_server.console.forms import build
from mdm_server.console.templating import render
from mdm_server.deps import ContextDep
from mdm_server.secure import routes as secure_api

router = APIRouter(prefix="/console/me", include_in_schema=False)
OfficerPage = Annotated[ConsolePrincipal, Depends(ConsoleAccess.like(secure_api.my_devices))]
LostReporter = Annotated[
    ConsolePrincipal, Depends(ConsoleAccess.like(commands_api.report_device_lost))
]


@router.get("")
def my_device(
    request: Request,
    principal: OfficerPage,
    context: ContextDep,
    reported: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """Your device's status, the report-lost button, and the appropriate-use policy."""
    mine = secure_api.my_devices(principal, context)
    return render(request, "me.html", principal=principal, mine=mine, reported=reported)


@router.post("/lost")
def report_lost(
    principal: LostReporter,
    context: ContextDep,
    device: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Report your device lost: its secure side is shut and its key destroyed at once."""
    report = build(LostDeviceReport, device=device or None, note=note or None)
    answer = commands_api.report_device_lost(principal, context, body=report)
    return RedirectResponse(f"/console/me?reported={answer.device_id}", status_code=303)


@router.get("/usage")
def my_usage(
    request: Request,
    principal: OfficerPage,
    context: ContextDep,
    before: Annotated[uuid.UUID | None, Query()] = None,
) -> HTMLResponse:
    """Your own recorded actions on the secure side, newest first."""
    usage = secure_api.my_usage(principal, context, limit=50, before=before)
    return render(request, "me_usage.html", principal=principal, usage=usage)
