"""IT's pages: the fleet at a glance, the device list, a device, and its commands.

Each page calls the API endpoint it stands for, as a function, under that endpoint's own
roles (`ConsoleAccess.like`), so the console reads and changes exactly what the API would."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mdm_server.commands import routes as commands_api
from mdm_server.commands.catalogue import KINDS
from mdm_server.commands.models import CommandState
from mdm_server.commands.schemas import (
    CommandBatch,
    CommandCancel,
    CommandCreate,
    CommandDetail,
    CommandTarget,
)
from mdm_server.console.access import ConsoleAccess, ConsolePrincipal
from mdm_server.console.charts import Bar, bar_chart
from mdm_server.console.findings import actions_in_words, in_words
from mdm_server.console.forms import build
from mdm_server.console.templating import TONES, render
from mdm_server.deps import ContextDep
from mdm_server.devices import routes as devices_api
from mdm_server.devices.fleet import COMPLIANCE_ORDER, Count
from mdm_server.devices.models import DeviceState
from mdm_server.devices.schemas import DeviceAssignment, DeviceRetire
from mdm_server.errors import InvalidRequestError, NotFoundError
from mdm_server.policies import routes as policies_api

router = APIRouter(prefix="/console", include_in_schema=False)

FleetReaderPage = Annotated[ConsolePrincipal, Depends(ConsoleAccess.like(devices_api.list_devices))]
SENDING = ConsoleAccess.like(commands_api.send_command)
CommandSender = Annotated[ConsolePrincipal, Depends(SENDING)]
CommandReader = Annotated[ConsolePrincipal, Depends(ConsoleAccess.like(commands_api.list_commands))]
Reason = Annotated[str, Form(max_length=500)]
OPEN_STATES = ("pending_approval", "queued", "delivered")
# Commands the device page offers, in the order shown; the rest are sent from the API.
DEVICE_ACTIONS = ("lock_device", "lock_secure_side", "wipe_secure_side", "wipe_device")


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _bars(counts: list[Count]) -> list[Bar]:
    return [
        Bar(count.label.replace("_", " "), count.devices, TONES.get(count.label, "info"))
        for count in counts
    ]


@router.get("/fleet")
def fleet_overview(
    request: Request, principal: FleetReaderPage, context: ContextDep
) -> HTMLResponse:
    """Devices by state, compliance, last check-in, Android version, patch age and model."""
    summary = devices_api.fleet_summary(principal, context)
    charts = [
        ("Compliance", "compliance", summary.by_compliance),
        ("Last check-in", "last_seen", summary.by_last_seen),
        ("Security patch age", "patch", summary.by_patch_age),
        ("Android version", "android_version", summary.by_android_version),
        ("Model", "model", summary.by_model),
        ("State (all devices)", "state", summary.by_state),
    ]
    compliance = {count.label: count.devices for count in summary.by_compliance}
    stale = sum(
        count.devices
        for count in summary.by_last_seen
        if count.label in ("within 30 days", "over 30 days ago", "never")
    )
    return render(
        request,
        "fleet.html",
        principal=principal,
        summary=summary,
        charts=[
            (title, key, counts, bar_chart(title, _bars(counts), empty="No devices."))
            for title, key, counts in charts
        ],
        compliant=compliance.get("compliant", 0),
        failing=compliance.get("non_compliant", 0),
        stale=stale,
    )


@router.get("/devices")
def device_list(
    request: Request,
    principal: FleetReaderPage,
    context: ContextDep,
    search: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9]*$")] = None,
    state: str | None = None,
    compliance: str | None = None,
    group: Annotated[str | None, Query(max_length=64)] = None,
    model: Annotated[str | None, Query(max_length=64)] = None,
    android_version: Annotated[str | None, Query(max_length=16)] = None,
    officer: Annotated[str | None, Query(max_length=16)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """Every device, filtered and searched, a page at a time."""
    filters = {
        "search": _blank(search),
        "state": _blank(state),
        "compliance": _blank(compliance),
        "group": _blank(group),
        "model": _blank(model),
        "android_version": _blank(android_version),
        "officer": _blank(officer),
    }
    if filters["state"] is not None and filters["state"] not in DeviceState.__members__:
        raise InvalidRequestError(f"state must be one of {', '.join(DeviceState)}")
    if filters["compliance"] is not None and filters["compliance"] not in COMPLIANCE_ORDER:
        raise InvalidRequestError(f"compliance must be one of {', '.join(COMPLIANCE_ORDER)}")
    limit = 50
    page = devices_api.list_devices(
        principal,
        context,
        limit=limit,
        offset=offset,
        **filters,  # type: ignore[arg-type]
    )
    given = {key: value for key, value in filters.items() if value is not None}
    return render(
        request,
        "devices.html",
        principal=principal,
        page=page,
        filters=filters,
        states=list(DeviceState),
        compliance_states=COMPLIANCE_ORDER,
        previous=urlencode({**given, "offset": max(0, offset - limit)}) if offset else None,
        next=urlencode({**given, "offset": offset + limit})
        if offset + limit < page.total
        else None,
    )


def _sent_command(
    principal: ConsolePrincipal, context: ContextDep, command_id: uuid.UUID | None, device_id: str
) -> CommandDetail | None:
    """The command just sent from the device page, as it stands now; None if there is none,
    or it is not this device's."""
    if command_id is None:
        return None
    try:
        command = commands_api.get_command(str(command_id), principal, context)
    except NotFoundError:
        return None
    return command if str(command.device_id) == device_id else None


def _command_history(
    principal: ConsolePrincipal,
    context: ContextDep,
    device_id: str,
    sent: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The device's newest commands, whether any is still open (the page then refreshes them
    every two seconds), and the one just sent, if any, as it stands now."""
    commands = commands_api.list_commands(principal, context, device=device_id, limit=25, offset=0)
    return {
        "device_id": device_id,
        "commands": commands,
        "live": any(command.state in OPEN_STATES for command in commands.items),
        "sent": _sent_command(principal, context, sent, device_id),
    }


def _device_page(
    principal: ConsolePrincipal, context: ContextDep, reference: str, sent: uuid.UUID | None
) -> dict[str, Any]:
    device = devices_api.get_device(reference, principal, context)
    explanation = policies_api.explain_device_policy(str(device.id), principal, context)
    return {
        "device": device,
        "explanation": explanation,
        "findings": in_words(explanation),
        "due": actions_in_words(explanation.actions),
        "actions": [KINDS[name] for name in DEVICE_ACTIONS],
        "can_command": principal.role in SENDING.roles,
        **_command_history(principal, context, str(device.id), sent),
    }


@router.get("/devices/{reference}")
def device_page(
    reference: str,
    request: Request,
    principal: FleetReaderPage,
    context: ContextDep,
    note: Annotated[str | None, Query(max_length=32)] = None,
    type: Annotated[str | None, Query(max_length=32)] = None,
    command: uuid.UUID | None = None,
) -> HTMLResponse:
    """One device: posture, findings with the policy layer behind each, commands and actions;
    what became of the command just sent (`command`), if any."""
    values = _device_page(principal, context, reference, command)
    if values["sent"] is not None:
        note = None  # the command itself says what became of it
    return render(
        request, "device.html", principal=principal, note=note, note_type=type or "", **values
    )


@router.get("/devices/{reference}/commands")
def device_command_history(
    reference: str,
    request: Request,
    principal: CommandReader,
    context: ContextDep,
    command: uuid.UUID | None = None,
) -> HTMLResponse:
    """The device's command history alone (the device page refreshes it while any is open),
    with what became of the command just sent (`command`) to replace the page's sentence."""
    values = _command_history(principal, context, reference, command)
    return render(request, "device_commands.html", principal=principal, oob=True, **values)


@router.post("/devices/{reference}/commands")
def send_device_command(
    reference: str,
    request: Request,
    principal: CommandSender,
    context: ContextDep,
    type: Annotated[str, Form(max_length=32)],
    reason: Reason = "",
) -> Response:
    """Send one command to this device; full wipes wait for a second it_admin."""
    if type not in DEVICE_ACTIONS:
        raise InvalidRequestError(f"type must be one of {', '.join(DEVICE_ACTIONS)}")
    body = CommandCreate(type=type, target=CommandTarget(device=reference), reason=_blank(reason))
    batch = commands_api.send_command(body, principal, context, idempotency_key=None)
    return RedirectResponse(_after_sending(reference, batch, type), status_code=303)


def _after_sending(reference: str, batch: CommandBatch, kind: str) -> str:
    """The device page, saying what became of the command just sent (its id in the address,
    so a reload or the refreshing history says it as it stands then)."""
    states = {command.state for command in batch.commands}
    note = "awaiting_approval" if "pending_approval" in states else "sent"
    query = {"note": note, "type": kind}
    if len(batch.commands) == 1:
        query["command"] = str(batch.commands[0].id)
    return f"/console/devices/{reference}?{urlencode(query)}"


@router.post("/devices/{reference}/assignment")
def assign_device(
    reference: str,
    principal: CommandSender,
    context: ContextDep,
    officer: Annotated[str, Form(max_length=16)] = "",
    group: Annotated[str, Form(max_length=64)] = "",
    unassign: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Assign the device to an officer and/or a group (or take it from its officer)."""
    fields: dict[str, Any] = {}
    if unassign:
        fields["officer"] = None
    elif officer.strip():
        fields["officer"] = officer.strip()
    if group.strip():
        fields["group"] = group.strip()
    if not fields:
        raise InvalidRequestError("give an officer's collar number or a group")
    devices_api.assign_device(reference, build(DeviceAssignment, **fields), principal, context)
    return RedirectResponse(f"/console/devices/{reference}?note=assigned", status_code=303)


@router.post("/devices/{reference}/retire")
def retire_device(
    reference: str, principal: CommandSender, context: ContextDep, reason: Reason
) -> Response:
    """Ask to retire the device (a second it_admin approves)."""
    batch = devices_api.retire_device(
        reference, DeviceRetire(reason=reason), principal, context, idempotency_key=None
    )
    return RedirectResponse(_after_sending(reference, batch, "retire"), status_code=303)


@router.post("/devices/{reference}/found")
def mark_found(reference: str, principal: CommandSender, context: ContextDep) -> Response:
    """Clear the device's lost report."""
    devices_api.mark_device_found(reference, principal, context)
    return RedirectResponse(f"/console/devices/{reference}?note=found", status_code=303)


@router.get("/commands")
def command_list(
    request: Request,
    principal: CommandReader,
    context: ContextDep,
    state: str | None = "pending_approval",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """Commands, newest first; by default those waiting for a second it_admin."""
    chosen = _blank(state)
    if chosen == "all":
        chosen = None
    page = commands_api.list_commands(principal, context, state=chosen, limit=50, offset=offset)
    return render(
        request,
        "commands.html",
        principal=principal,
        page=page,
        state=state or "all",
        states=["all", *CommandState.__members__],
        can_command=principal.role in SENDING.roles,
    )


@router.get("/commands/{command_id}")
def command_page(
    command_id: uuid.UUID, request: Request, principal: CommandReader, context: ContextDep
) -> HTMLResponse:
    """One command: its history, evidence and the device's signed receipt."""
    command = commands_api.get_command(str(command_id), principal, context)
    return render(
        request,
        "command.html",
        principal=principal,
        command=command,
        can_command=principal.role in SENDING.roles,
    )


@router.post("/commands/{command_id}/approve")
def approve_command(
    command_id: uuid.UUID, principal: CommandSender, context: ContextDep
) -> Response:
    """Approve a full wipe or retire (not one you requested yourself)."""
    commands_api.approve_command(str(command_id), principal, context)
    return RedirectResponse(f"/console/commands/{command_id}", status_code=303)


@router.post("/commands/{command_id}/cancel")
def cancel_command(
    command_id: uuid.UUID, principal: CommandSender, context: ContextDep, reason: Reason = ""
) -> Response:
    """Cancel a command that has not run."""
    commands_api.cancel_command(
        str(command_id), principal, context, body=CommandCancel(reason=_blank(reason))
    )
    return RedirectResponse(f"/console/commands/{command_id}", status_code=303)
