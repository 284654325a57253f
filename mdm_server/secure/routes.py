"""The secure side over HTTP: the gate and police transactions (devices), officers' PINs and
the crypto-shred of a device's container (IT), acknowledgements (IT and auditors)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query

from mdm_server import metrics
from mdm_server.appropriate_use import justification
from mdm_server.appropriate_use.models import JustificationRequest
from mdm_server.audit.search import MAX_PAGE
from mdm_server.auth import repository as staff_repository
from mdm_server.auth.models import StaffUser
from mdm_server.commands import service as commands_service
from mdm_server.commands.catalogue import KINDS
from mdm_server.deps import ContextDep, DeviceCaller, FleetReader, ITAdmin, Officer
from mdm_server.devices.lookup import find_device
from mdm_server.devices.models import DeviceState
from mdm_server.errors import TabardError, error_responses
from mdm_server.secure import gate, keys, officer_view, pins, repository, sessions, transactions
from mdm_server.secure.models import ContainerKey, OfficerPin
from mdm_server.secure.schemas import (
    AcknowledgementPublic,
    ContainerKeyPublic,
    ContainerWipe,
    ContainerWiped,
    JustificationAnswer,
    JustificationPublic,
    JustificationsPending,
    MyDevices,
    MyUsage,
    PinSet,
    PinStatus,
    SecureSessionEnd,
    SecureSessionEnded,
    SecureSessionOpen,
    SecureSessionOpened,
)
from mdm_server.secure.transaction_schemas import TransactionRequest, TransactionResult
from mdm_server.validation import CollarNumber

device_router = APIRouter(prefix="/api/v1/device", tags=["device protocol"])
officers_router = APIRouter(prefix="/api/v1/officers", tags=["officers"])
containers_router = APIRouter(prefix="/api/v1/devices", tags=["devices"])
me_router = APIRouter(prefix="/api/v1/me", tags=["officers"])


@device_router.post("/secure-sessions", status_code=201, responses=error_responses(403))
def open_secure_session(
    body: SecureSessionOpen, caller: DeviceCaller, context: ContextDep
) -> SecureSessionOpened:
    """The gate: the officer's collar number and PIN for a secure session and the container
    key, encrypted to this device's key. A refusal names its reason."""
    try:
        with caller.transaction(context) as (session, device):
            opened = gate.open_session(
                session, caller=device, request=body, context=context, now=context.clock()
            )
    except TabardError as refusal:
        metrics.SECURE_ENTRIES.labels("refused", refusal.error_code).inc()
        raise
    metrics.SECURE_ENTRIES.labels("opened", "").inc()
    return opened


@device_router.post("/secure-sessions/{session_id}/end")
def end_secure_session(
    session_id: uuid.UUID, body: SecureSessionEnd, caller: DeviceCaller, context: ContextDep
) -> SecureSessionEnded:
    """The secure side was left or locked: end the session."""
    with caller.transaction(context) as (session, device):
        ended = sessions.end_session(
            session, caller=device, session_id=session_id, reason=body.reason, now=context.clock()
        )
        assert ended.ended_at is not None
        assert ended.end_reason is not None
        return SecureSessionEnded(
            session_id=ended.id, ended_at=ended.ended_at, end_reason=ended.end_reason
        )


@device_router.post("/transactions", responses=error_responses(403, 503))
def run_transaction(
    body: TransactionRequest,
    caller: DeviceCaller,
    context: ContextDep,
    session_token: Annotated[
        str | None,
        Header(alias=sessions.SESSION_HEADER, description="The secure session token."),
    ] = None,
) -> TransactionResult:
    """A police transaction: checked against the session and policy, recorded with its
    justification, then answered from the records connector."""
    try:
        with caller.transaction(context) as (session, device):
            result = transactions.run_transaction(
                session,
                caller=device,
                token=session_token,
                request=body,
                connector=context.records,
                subjects=context.subject_keys,
                sample_key=context.justification_key,
                now=context.clock(),
            )
    except TabardError as refusal:
        metrics.TRANSACTIONS.labels(body.type, f"refused:{refusal.error_code}").inc()
        raise
    metrics.TRANSACTIONS.labels(body.type, "answered").inc()
    return result


SessionToken = Annotated[
    str | None, Header(alias=sessions.SESSION_HEADER, description="The secure session token.")
]


def _justification(asked: JustificationRequest) -> JustificationPublic:
    return JustificationPublic(
        id=asked.id,
        transaction_id=asked.transaction_id,
        asked_at=asked.asked_at,
        question=justification.QUESTION,
        answered_at=asked.answered_at,
        answer=asked.answer,
    )


@device_router.get("/justifications")
def pending_justifications(
    caller: DeviceCaller, context: ContextDep, session_token: SessionToken = None
) -> JustificationsPending:
    """The open session's officer's transactions awaiting further justification."""
    with caller.transaction(context) as (session, device):
        secure = sessions.current_session(
            session, token=session_token, caller=device, now=context.clock()
        )
        officer = staff_repository.get_user(session, secure.officer_id)
        assert officer is not None
        asked = justification.pending(session, officer=officer.collar_number or "")
        return JustificationsPending(items=[_justification(item) for item in asked])


@device_router.post("/justifications/{request_id}", responses=error_responses(409))
def answer_justification(
    request_id: uuid.UUID,
    body: JustificationAnswer,
    caller: DeviceCaller,
    context: ContextDep,
    session_token: SessionToken = None,
) -> JustificationPublic:
    """The officer's further justification for a sampled transaction (recorded once, in the
    audit log)."""
    now = context.clock()
    with caller.transaction(context) as (session, device):
        secure = sessions.current_session(session, token=session_token, caller=device, now=now)
        officer = staff_repository.get_user(session, secure.officer_id)
        assert officer is not None
        answered = justification.answer(
            session,
            request_id=request_id,
            officer=officer.collar_number or "",
            text=body.answer,
            actor=gate.officer_actor(officer, device),
            now=now,
        )
        return _justification(answered)


def _pin_status(officer: StaffUser, stored: OfficerPin) -> PinStatus:
    return PinStatus(
        collar_number=officer.collar_number or "",
        must_change=stored.must_change,
        failed_attempts=stored.failed_attempts,
        locked_until=stored.locked_until,
        set_at=stored.set_at,
    )


@officers_router.put("/{collar_number}/pin")
def set_officer_pin(
    collar_number: CollarNumber, body: PinSet, principal: ITAdmin, context: ContextDep
) -> PinStatus:
    """Set an officer's secure-side PIN; they must change it at their next entry."""
    with context.database.unit_of_work() as session:
        officer = pins.officer_for_pin(session, collar_number)
        stored = pins.set_pin(
            session,
            officer=officer,
            pin=body.pin,
            passwords=context.passwords,
            actor=principal.actor,
            now=context.clock(),
        )
        return _pin_status(officer, stored)


@officers_router.post("/{collar_number}/pin/clear-lockout")
def clear_officer_pin_lockout(
    collar_number: CollarNumber, principal: ITAdmin, context: ContextDep
) -> PinStatus:
    """Clear an officer's PIN lockout and wrong-attempt count."""
    with context.database.unit_of_work() as session:
        officer = pins.officer_for_pin(session, collar_number)
        stored = pins.clear_lockout(
            session, officer=officer, actor=principal.actor, now=context.clock()
        )
        return _pin_status(officer, stored)


@officers_router.get("/{collar_number}/acknowledgements")
def list_acknowledgements(
    collar_number: CollarNumber, _: FleetReader, context: ContextDep
) -> list[AcknowledgementPublic]:
    """The appropriate-use policy versions the officer has acknowledged, newest first."""
    with context.database.unit_of_work(write=False) as session:
        officer = pins.officer_for_pin(session, collar_number)
        return [
            AcknowledgementPublic.model_validate(row, from_attributes=True)
            for row in repository.acknowledgements_of(session, officer.id)
        ]


def _key_public(key: ContainerKey) -> ContainerKeyPublic:
    return ContainerKeyPublic.model_validate(key, from_attributes=True)


@containers_router.post("/{reference}/secure-side/wipe")
def wipe_secure_side(
    reference: str, body: ContainerWipe, principal: ITAdmin, context: ContextDep
) -> ContainerWiped:
    """Crypto-shred the device's secure side: its container key is destroyed at once, so the
    container cannot be opened again even if the device never comes back online."""
    with context.database.unit_of_work() as session:
        device = find_device(session, reference, for_update=True)
        now = context.clock()
        destroyed = keys.destroy(
            session, device_id=device.id, reason=body.reason, actor=principal.actor, now=now
        )
        command = None
        if device.state == DeviceState.active:
            command, _ = commands_service.create_or_reuse(
                session,
                device=device,
                kind=KINDS["wipe_secure_side"],
                params={},
                reason=body.reason,
                requester=commands_service.Requester(
                    actor=principal.actor, user_id=principal.user_id
                ),
                wakeups=context.wakeups,
                now=now,
            )
        return ContainerWiped(
            device_id=device.id,
            destroyed=_key_public(destroyed) if destroyed is not None else None,
            detail="container key destroyed"
            if destroyed is not None
            else "the device had no live container key; nothing to destroy",
            command_id=command.id if command is not None else None,
        )


@containers_router.get("/{reference}/container-keys")
def list_container_keys(
    reference: str, _: FleetReader, context: ContextDep
) -> list[ContainerKeyPublic]:
    """The device's container keys, newest first, with when and why each was destroyed."""
    with context.database.unit_of_work(write=False) as session:
        device = find_device(session, reference)
        return [_key_public(key) for key in repository.keys_of(session, device.id)]


@me_router.get("/devices")
def my_devices(principal: Officer, context: ContextDep) -> MyDevices:
    """Your devices, the appropriate-use policy you work under, and your acknowledgements."""
    with context.database.unit_of_work(write=False) as session:
        return officer_view.my_devices(session, user_id=principal.user_id)


@me_router.get("/usage")
def my_usage(
    principal: Officer,
    context: ContextDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    before: Annotated[
        uuid.UUID | None,
        Query(description="The `next_before` of the previous page: only events older than it."),
    ] = None,
) -> MyUsage:
    """Your own recorded actions on the secure side, newest first: entries and exits,
    transactions, PIN changes, acknowledgements, justification asked and given, a lost report
    (the read is audited)."""
    with context.database.unit_of_work() as session:
        return officer_view.my_usage(
            session,
            user_id=principal.user_id,
            collar_number=principal.collar_number,
            limit=limit,
            before=before,
            actor=principal.actor,
            now=context.clock(),
        )
