"""Commands over HTTP: IT sends, approves and cancels them; IT and auditors read them;
devices long-poll for envelopes and return signed receipts; officers report their device
lost."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Header, Path, Query, Request
from sqlmodel import Session, col
from starlette.concurrency import run_in_threadpool

from mdm_server import metrics
from mdm_server.commands import delivery, lost, repository, service
from mdm_server.commands.catalogue import KINDS
from mdm_server.commands.models import Command, CommandState
from mdm_server.commands.repository import CommandFilter
from mdm_server.commands.schemas import (
    CommandBatch,
    CommandCancel,
    CommandCreate,
    CommandDelivery,
    CommandDetail,
    CommandKindPublic,
    CommandPage,
    LostDeviceNote,
    LostDeviceReport,
    LostDeviceReported,
    ReceiptIn,
    ReceiptRecorded,
)
from mdm_server.context import AppContext
from mdm_server.deps import (
    AnyStaff,
    ContextDep,
    DeviceCaller,
    FleetReader,
    ITAdmin,
    require_step_up,
)
from mdm_server.devices import repository as devices_repository
from mdm_server.devices.lookup import find_device
from mdm_server.devices.models import DeviceState
from mdm_server.devices.service import device_actor
from mdm_server.errors import InvalidRequestError, ServiceUnavailableError, error_responses
from mdm_server.short_ids import resolve_id
from mdm_server.stopping import STOPPING_RETRY_AFTER_S

log = logging.getLogger("tabard.commands")
commands_router = APIRouter(prefix="/api/v1/commands", tags=["commands"])
device_router = APIRouter(prefix="/api/v1/device", tags=["device protocol"])
me_router = APIRouter(prefix="/api/v1/me", tags=["officers"])

MAX_WAIT_S = 60
IDLE_ANSWER_SPREAD = 0.5  # an idle poll is answered in the second half of its wait
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=128,
        description="Send the same key again to get the first request's answer, not a copy.",
    ),
]


@commands_router.post("", status_code=201, responses=error_responses(404, 409))
def send_command(
    body: CommandCreate,
    principal: ITAdmin,
    context: ContextDep,
    idempotency_key: IdempotencyKey = None,
) -> CommandBatch:
    """Send a command to a device, a list, a group or a filter. Full wipes and retire wait
    for a second it_admin's approval."""
    requester = service.Requester(actor=principal.actor, user_id=principal.user_id)
    with context.database.unit_of_work() as session:
        return service.enqueue(
            session,
            request=body,
            requester=requester,
            idempotency_key=idempotency_key,
            wakeups=context.wakeups,
            now=context.clock(),
        )


@commands_router.get("", responses=error_responses(404))
def list_commands(
    _: FleetReader,
    context: ContextDep,
    device: Annotated[str | None, Query(description="Id, serial or id prefix.")] = None,
    state: str | None = None,
    type: str | None = None,
    batch: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CommandPage:
    """Commands, newest first, filtered and paginated."""
    if state is not None and state not in CommandState.__members__:
        raise InvalidRequestError(
            f"state must be one of {', '.join(CommandState.__members__)}", code="invalid_filter"
        )
    if type is not None and type not in KINDS:
        raise InvalidRequestError(f"type must be one of {', '.join(KINDS)}", code="invalid_filter")
    with context.database.unit_of_work(write=False) as session:
        device_id = find_device(session, device).id if device is not None else None
        where = CommandFilter(device_id=device_id, state=state, type=type, batch_id=batch)
        rows, total = repository.list_commands(session, where=where, limit=limit, offset=offset)
        items = [service.public(command, serial) for command, serial in rows]
    return CommandPage(items=items, total=total, limit=limit, offset=offset)


@commands_router.get("/types")
def list_command_types(_: FleetReader) -> list[CommandKindPublic]:
    """Every command type: what it does, its time to live, whether it needs approval."""
    return [
        CommandKindPublic(
            name=kind.name,
            summary=kind.summary,
            ttl_s=int(kind.ttl.total_seconds()) if kind.ttl is not None else None,
            two_person=kind.two_person,
            needs_reason=kind.needs_reason,
            params=kind.params.model_json_schema(),
        )
        for kind in KINDS.values()
    ]


CommandRef = Annotated[
    str,
    Path(description="The command id, or its first 4 to 8 characters as lists show them."),
]


def _command_id(session: Session, reference: str) -> uuid.UUID:
    return resolve_id(session, col(Command.id), reference, noun="command")


@commands_router.get("/{command_id}")
def get_command(command_id: CommandRef, _: FleetReader, context: ContextDep) -> CommandDetail:
    """One command with its history's times, its evidence and the device's signed receipt."""
    with context.database.unit_of_work(write=False) as session:
        return service.get_detail(session, _command_id(session, command_id))


@commands_router.post("/{command_id}/approve", responses=error_responses(409))
def approve_command(
    command_id: CommandRef, principal: ITAdmin, context: ContextDep
) -> CommandDetail:
    """Approve a full wipe or retire: any it_admin but the one who requested it, with a
    second factor used in the last minutes (403 `step_up_required` without)."""
    approver = service.Requester(actor=principal.actor, user_id=principal.user_id)
    with context.database.unit_of_work() as session:
        require_step_up(session, principal, context)
        found = _command_id(session, command_id)
        service.approve(
            session,
            command_id=found,
            approver=approver,
            wakeups=context.wakeups,
            now=context.clock(),
        )
        return service.get_detail(session, found)


@commands_router.post("/{command_id}/cancel", responses=error_responses(409))
def cancel_command(
    command_id: CommandRef,
    principal: ITAdmin,
    context: ContextDep,
    body: Annotated[CommandCancel | None, Body()] = None,
) -> CommandDetail:
    """Cancel a command that cannot have run yet (a refused approval is a cancel, too)."""
    with context.database.unit_of_work() as session:
        found = _command_id(session, command_id)
        service.cancel(
            session,
            command_id=found,
            actor=principal.actor,
            reason=body.reason if body is not None else None,
            now=context.clock(),
        )
        return service.get_detail(session, found)


def _deliver_authenticated(caller: DeviceCaller, context: AppContext) -> list[str]:
    with caller.transaction(context) as (session, device):
        # Read as the device was authenticated, after the poll subscribed to wake-ups: a
        # command queued later wakes the poll, so nothing is missed by not looking.
        if not device.device.commands_open:
            return []
        return delivery.deliver(
            session,
            device_id=device.device.id,
            signer=context.command_signer,
            actor=device.actor,
            now=context.clock(),
            via="long_poll",
        )


def _deliver_again(caller: DeviceCaller, context: AppContext) -> list[str]:
    """After a wake-up: the device authenticated when its poll began. Audited as the poll's
    request, as the first delivery is: the same request id and address."""
    device_id = caller.claimed_device_id()
    with context.database.unit_of_work() as session:
        ref = devices_repository.device_ref(session, device_id)
        if ref is None or ref.state != DeviceState.active or ref.certificate_serial is None:
            return []
        return delivery.deliver(
            session,
            device_id=device_id,
            signer=context.command_signer,
            actor=device_actor(
                device_id, ref.serial, source_ip=caller.source_ip, request_id=caller.request_id
            ),
            now=context.clock(),
            via="long_poll",
        )


@device_router.get("/commands", response_model_exclude_none=True)
async def poll_commands(
    request: Request,
    caller: DeviceCaller,
    context: ContextDep,
    wait: Annotated[
        int,
        Query(ge=0, le=MAX_WAIT_S, description="Seconds to hold the request open if none wait."),
    ] = 0,
) -> CommandDelivery:
    """Signed envelopes for this device's waiting commands, in order. With `wait`, a long
    poll: answered the moment a command is queued, or with none when the wait ends; or, if the
    server is stopping, at once with 503 `server_stopping` (poll again after `Retry-After`)."""
    device_id = caller.claimed_device_id()  # verified by the first delivery
    with context.wakeups.subscribe(device_id) as woken:
        if await caller.poll_quickly(context):
            envelopes = []  # owed nothing, as the one statement found
        else:
            envelopes = await run_in_threadpool(_deliver_authenticated, caller, context)
        if envelopes or wait == 0:
            return _delivery(envelopes, device_id, context)
        log.debug("long poll open for device %s, up to %d s", device_id, wait)
        metrics.LONG_POLLS.inc()
        try:
            woke = await _woken(woken, request, wait)
        finally:
            metrics.LONG_POLLS.dec()
        if not woke:
            return _delivery(envelopes, device_id, context)
    if context.wakeups.stopping:
        raise ServiceUnavailableError(
            "the server is stopping; poll again in a moment",
            code="server_stopping",
            headers={"Retry-After": str(STOPPING_RETRY_AFTER_S), "Connection": "close"},
        )
    envelopes = await run_in_threadpool(_deliver_again, caller, context)
    return _delivery(envelopes, device_id, context)


def _delivery(envelopes: list[str], device_id: uuid.UUID, context: AppContext) -> CommandDelivery:
    return CommandDelivery(commands=envelopes, wakeup=context.wakeups.channel(device_id))


async def _woken(woken: asyncio.Event, request: Request, wait: int) -> bool:
    """Whether the wake-up came before the wait ended. The wait ends at a random moment in
    its second half, so polls that began together (a fleet reconnecting after a restart) do
    not all come back together; and at once if the device hangs up, so a poll nobody waits
    for does not hold the server."""
    hung_up = asyncio.ensure_future(_hang_up(request))
    wake = asyncio.ensure_future(woken.wait())
    try:
        done, _ = await asyncio.wait(
            {wake, hung_up},
            timeout=wait * random.uniform(1 - IDLE_ANSWER_SPREAD, 1.0),  # noqa: S311
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        hung_up.cancel()
        wake.cancel()
    return wake in done


async def _hang_up(request: Request) -> None:
    """Returns when the client disconnects (the request has no body left to read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


@device_router.post("/commands/{command_id}/receipt", responses=error_responses(409))
def submit_receipt(
    command_id: uuid.UUID, body: ReceiptIn, caller: DeviceCaller, context: ContextDep
) -> ReceiptRecorded:
    """The device's signed receipt for a command it ran. Sending the same receipt again is
    harmless; a receipt that does not verify is refused."""
    with caller.transaction(context) as (session, device):
        ref = device.device
        assert ref.certificate_serial is not None
        assert ref.certificate_pem is not None
        command, duplicate = delivery.record_receipt(
            session,
            device_id=ref.id,
            device_key=context.device_keys.get(ref.certificate_serial, ref.certificate_pem),
            command_id=command_id,
            token=body.receipt,
            actor=device.actor,
            now=context.clock(),
        )
        return ReceiptRecorded(command_id=command.id, state=command.state, duplicate=duplicate)


@me_router.post("/device/lost", responses=error_responses(404))
def report_device_lost(
    principal: AnyStaff,
    context: ContextDep,
    body: Annotated[LostDeviceReport | None, Body()] = None,
) -> LostDeviceReported:
    """Report your own device lost: it is locked and its secure-side key destroyed at once."""
    with context.database.unit_of_work() as session:
        return lost.report_lost(
            session,
            user_id=principal.user_id,
            collar_number=principal.collar_number,
            actor=principal.actor,
            report=body or LostDeviceReport(),
            wakeups=context.wakeups,
            now=context.clock(),
        )


@device_router.post("/lost")
def device_reports_itself_lost(
    caller: DeviceCaller,
    context: ContextDep,
    body: Annotated[LostDeviceNote | None, Body()] = None,
) -> LostDeviceReported:
    """The device reports itself lost (the button on its personal side; no PIN needed, as
    the phone may be in the wrong hands): locked, and its secure-side key destroyed at once."""
    with caller.transaction(context) as (session, device):
        return lost.report_lost_from_device(
            session,
            device_id=device.device.id,
            actor=device.actor,
            note=body.note if body is not None else None,
            wakeups=context.wakeups,
            now=context.clock(),
        )
