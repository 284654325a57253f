"""The fleet inventory (staff) and device check-in (devices)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from mdm_server import metrics
from mdm_server.commands import delivery as commands_delivery
from mdm_server.commands import service as commands_service
from mdm_server.commands.routes import IdempotencyKey
from mdm_server.commands.schemas import CommandBatch, CommandCreate, CommandTarget
from mdm_server.deps import ContextDep, DeviceCaller, FleetReader, ITAdmin
from mdm_server.devices import events, fleet, service, signed_events
from mdm_server.devices.lookup import find_device
from mdm_server.devices.repository import DeviceFilter
from mdm_server.devices.schemas import (
    CheckinRequest,
    CheckinResponse,
    DeviceAssignment,
    DeviceDetail,
    DeviceEventBatch,
    DeviceEventsAccepted,
    DevicePage,
    DevicePublic,
    DeviceRetire,
    PostureEntry,
)
from mdm_server.errors import error_responses
from mdm_server.validation import Moment

inventory_router = APIRouter(prefix="/api/v1/devices", tags=["devices"])
fleet_router = APIRouter(prefix="/api/v1/fleet", tags=["devices"])
device_router = APIRouter(prefix="/api/v1/device", tags=["device protocol"])


@inventory_router.get("")
def list_devices(
    _: FleetReader,
    context: ContextDep,
    group: str | None = None,
    officer: Annotated[str | None, Query(description="Collar number.")] = None,
    model: str | None = None,
    android_version: str | None = None,
    state: str | None = None,
    compliance: Annotated[
        str | None,
        Query(
            description="compliant, in_grace, non_compliant, incompatible, unknown, "
            "not_evaluated (active devices), or not_applicable (retired or wiped)"
        ),
    ] = None,
    last_seen_before: Moment | None = None,
    last_seen_after: Moment | None = None,
    lost: Annotated[
        bool | None,
        Query(description="true: only devices reported lost; false: only those not lost."),
    ] = None,
    search: Annotated[
        str | None,
        Query(max_length=64, pattern=r"^[A-Za-z0-9]*$", description="Start of serial or IMEI."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DevicePage:
    """Devices, newest enrolment first, filtered and paginated."""
    where = DeviceFilter(
        search=search or None,
        group=group,
        model=model,
        android_version=android_version,
        state=state,
        last_seen_before=last_seen_before,
        last_seen_after=last_seen_after,
        compliance=compliance,
        lost=lost,
    )
    with context.database.unit_of_work(write=False) as session:
        return service.list_devices(
            session, where=where, officer_collar=officer, limit=limit, offset=offset
        )


@fleet_router.get("/summary")
def fleet_summary(_: FleetReader, context: ContextDep) -> fleet.FleetSummary:
    """The active fleet counted by state, compliance, last check-in, Android version,
    security-patch age, model and group."""
    with context.database.unit_of_work(write=False) as session:
        return fleet.summary(session, now=context.clock())


@inventory_router.get("/{reference}")
def get_device(reference: str, _: FleetReader, context: ContextDep) -> DeviceDetail:
    """One device by id or serial, with its latest posture and certificates."""
    with context.database.unit_of_work(write=False) as session:
        return service.device_detail(session, reference)


@inventory_router.get("/{reference}/postures")
def list_device_postures(
    reference: str,
    _: FleetReader,
    context: ContextDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[PostureEntry]:
    """The device's posture changes, newest first."""
    with context.database.unit_of_work(write=False) as session:
        return list(service.posture_history(session, reference, limit=limit))


@inventory_router.patch("/{reference}/assignment")
def assign_device(
    reference: str, body: DeviceAssignment, principal: ITAdmin, context: ContextDep
) -> DevicePublic:
    """Assign the device to an officer (by collar number) and/or a group."""
    with context.database.unit_of_work() as session:
        return service.assign(
            session, reference=reference, change=body, actor=principal.actor, now=context.clock()
        )


@inventory_router.post("/{reference}/retire", status_code=202)
def retire_device(
    reference: str,
    body: DeviceRetire,
    principal: ITAdmin,
    context: ContextDep,
    idempotency_key: IdempotencyKey = None,
) -> CommandBatch:
    """Ask to retire the device: a `retire` command that waits for a second it_admin's
    approval. Once approved, its certificates are revoked, so it can no longer authenticate,
    and its container key is destroyed."""
    request = CommandCreate(
        type="retire", target=CommandTarget(device=reference), reason=body.reason
    )
    with context.database.unit_of_work() as session:
        return commands_service.enqueue(
            session,
            request=request,
            requester=commands_service.Requester(actor=principal.actor, user_id=principal.user_id),
            idempotency_key=idempotency_key,
            wakeups=context.wakeups,
            now=context.clock(),
        )


@inventory_router.post("/{reference}/found")
def mark_device_found(reference: str, principal: ITAdmin, context: ContextDep) -> DevicePublic:
    """Clear a lost report: the device's secure side may be opened again."""
    with context.database.unit_of_work() as session:
        device = find_device(session, reference, for_update=True)
        return service.mark_found(
            session, device=device, actor=principal.actor, now=context.clock()
        )


@device_router.post("/checkin", responses=error_responses(409), response_model=CheckinResponse)
async def check_in(body: CheckinRequest, caller: DeviceCaller, context: ContextDep) -> Response:
    """Report posture; the answer carries pending commands, the policy version the device
    should hold, and when to check in next."""
    digest = service.posture_digest(body.posture)
    quick = await caller.check_in_quickly(context, posture_digest=digest)
    if quick is not None:
        answer = service.quick_answer(quick, settings=context.settings)
    else:
        answer = await run_in_threadpool(_check_in, body, caller, context)
    metrics.CHECKINS.labels(answer.standing.status or "unknown").inc()
    # Serialised here, once: the answer is already a validated CheckinResponse.
    return Response(answer.model_dump_json(), media_type="application/json")


def _check_in(body: CheckinRequest, caller: DeviceCaller, context: ContextDep) -> CheckinResponse:
    with caller.transaction(context) as (session, device):
        answer = service.check_in(
            session,
            device=device.device,
            posture=body.posture,
            now=context.clock(),
            settings=context.settings,
        )
        answer.container_key_id = device.device.container_key_id
        answer.certificate = device.device.certificate_pem
        if device.device.commands_open:
            answer.commands = commands_delivery.deliver(
                session,
                device_id=device.device.id,
                signer=context.command_signer,
                actor=device.actor,
                now=context.clock(),
                via="checkin",
            )
    return answer


@device_router.post("/events")
def upload_events(
    body: DeviceEventBatch, caller: DeviceCaller, context: ContextDep
) -> DeviceEventsAccepted:
    """A batch from the device's outbox, each event signed by the device. Idempotent by event
    id: resending a batch is safe. One event that fails its signature refuses the batch."""
    with caller.transaction(context) as (session, device):
        ref = device.device
        assert ref.certificate_serial is not None  # an authenticated device has one
        assert ref.certificate_pem is not None
        key = context.device_keys.get(ref.certificate_serial, ref.certificate_pem)
        return events.ingest(
            session,
            device_id=ref.id,
            batch=signed_events.open_batch(body.events, device_id=ref.id, key=key),
            actor=device.actor,
            now=context.clock(),
        )
