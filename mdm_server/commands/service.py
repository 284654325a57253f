"""Rules for commands: queue, approve, cancel, expire, read. Never commits. Delivery and
receipts are in `delivery`.

Lifecycle (DESIGN.md flow 4): a command is created `queued`, or `pending_approval` when its
type needs a second it_admin; it is `delivered` once the device has been sent a signed
envelope, and `succeeded` or `failed` only on a receipt signed by the device's key. It is
`cancelled` by an administrator before it can run, or `expired` when its time to live runs
out first; wipes and retire never expire. Every transition is an audit event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from mdm_server import metrics
from mdm_server.audit.service import SCHEDULER, Actor, record
from mdm_server.auth.roles import Role, role_name
from mdm_server.commands import repository
from mdm_server.commands.catalogue import CommandKind, kind_of, validate_params
from mdm_server.commands.models import OPEN_STATES, Command, CommandState
from mdm_server.commands.schemas import (
    CommandBatch,
    CommandCreate,
    CommandDetail,
    CommandPublic,
)
from mdm_server.commands.targets import select_targets
from mdm_server.commands.wakeups import Wakeups
from mdm_server.crypto.command_signing import ENVELOPE_SKEW
from mdm_server.devices import repository as devices_repository
from mdm_server.devices import service as devices_service
from mdm_server.devices.models import Device, DeviceState
from mdm_server.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from mdm_server.secure import keys


@dataclass(frozen=True)
class Requester:
    actor: Actor
    user_id: uuid.UUID | None  # None: the scheduler


def public(command: Command, serial: str | None = None) -> CommandPublic:
    return CommandPublic(
        **_fields(command),
        device_serial=serial,
        receipt_verified=command.receipt is not None,
    )


def detail(command: Command, serial: str | None = None) -> CommandDetail:
    return CommandDetail(
        **_fields(command),
        device_serial=serial,
        receipt_verified=command.receipt is not None,
        receipt=command.receipt,
    )


def _fields(command: Command) -> dict[str, Any]:
    return {
        name: getattr(command, name)
        for name in CommandPublic.model_fields
        if name not in ("device_serial", "receipt_verified")
    }


# --- queuing --------------------------------------------------------------------------------
def enqueue(
    session: Session,
    *,
    request: CommandCreate,
    requester: Requester,
    idempotency_key: str | None,
    wakeups: Wakeups,
    now: datetime,
) -> CommandBatch:
    """Queue one command per target device (or reuse an identical open one), audited."""
    kind = kind_of(request.type)
    params = validate_params(kind, request.params)
    if kind.needs_reason and request.reason is None:
        raise InvalidRequestError(f"{kind.name} needs a reason", code="reason_required")
    if idempotency_key is not None and requester.user_id is not None:
        earlier = repository.by_idempotency_key(session, requester.user_id, idempotency_key)
        if earlier:
            return _batch_of(session, earlier[0].batch_id, reused=[])
    batch_id = uuid.uuid4()
    created: list[Command] = []
    reused: list[Command] = []
    for device in select_targets(session, request.target):
        command, again = create_or_reuse(
            session,
            device=device,
            kind=kind,
            params=params,
            reason=request.reason,
            requester=requester,
            batch_id=batch_id,
            idempotency_key=idempotency_key,
            wakeups=wakeups,
            now=now,
        )
        (reused if again else created).append(command)
    serial = repository.serials(session, [c.device_id for c in created + reused])
    return CommandBatch(
        batch_id=batch_id,
        commands=[public(c, serial.get(c.device_id)) for c in created + reused],
        reused=[c.id for c in reused],
    )


def _batch_of(session: Session, batch_id: uuid.UUID, *, reused: list[uuid.UUID]) -> CommandBatch:
    commands = repository.batch(session, batch_id)
    serial = repository.serials(session, [c.device_id for c in commands])
    return CommandBatch(
        batch_id=batch_id,
        commands=[public(c, serial.get(c.device_id)) for c in commands],
        reused=reused,
    )


def create(
    session: Session,
    *,
    device: Device,
    kind: CommandKind,
    params: dict[str, Any],
    reason: str | None,
    requester: Requester,
    batch_id: uuid.UUID,
    wakeups: Wakeups,
    now: datetime,
    idempotency_key: str | None = None,
) -> Command:
    """One command for one device, audited, and carried forward at once if it needs no
    approval."""
    command = Command(
        device_id=device.id,
        device_seq=repository.next_device_seq(session, device.id),
        batch_id=batch_id,
        type=kind.name,
        params=params,
        reason=reason,
        state=CommandState.pending_approval if kind.two_person else CommandState.queued,
        requested_by=requester.actor.name or requester.actor.type,
        requested_by_id=requester.user_id,
        idempotency_key=idempotency_key,
        created_at=now,
        not_before=now,
        expires_at=now + kind.ttl if kind.ttl is not None else None,
    )
    session.add(command)
    metrics.command_reached(command.type, command.state)
    session.flush()
    audit(
        session, command, "command.requested", actor=requester.actor, now=now, serial=device.serial
    )
    if command.state == CommandState.queued:
        _on_queued(session, command, actor=requester.actor, wakeups=wakeups, now=now)
    return command


def create_or_reuse(
    session: Session,
    *,
    device: Device,
    kind: CommandKind,
    params: dict[str, Any],
    reason: str | None,
    requester: Requester,
    wakeups: Wakeups,
    now: datetime,
    batch_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
) -> tuple[Command, bool]:
    """The device's open command of this kind and parameters, else a new one; and whether it
    was the open one (a queue never holds two copies of the same command)."""
    existing = repository.open_like(session, device.id, kind.name, params)
    if existing is not None:
        return existing, True
    command = create(
        session,
        device=device,
        kind=kind,
        params=params,
        reason=reason,
        requester=requester,
        batch_id=batch_id or uuid.uuid4(),
        idempotency_key=idempotency_key,
        wakeups=wakeups,
        now=now,
    )
    return command, False


def audit(
    session: Session, command: Command, action: str, *, actor: Actor, now: datetime, **extra: Any
) -> None:
    """An audit event about `command`, aimed at its device, naming the command in full."""
    record(
        session,
        actor=actor,
        action=action,
        now=now,
        target_type="device",
        target_id=command.device_id,
        detail={
            "command_id": str(command.id),
            "type": command.type,
            "params": command.params,
            "reason": command.reason,
            "state": command.state,
            **extra,
        },
    )


def _on_queued(
    session: Session, command: Command, *, actor: Actor, wakeups: Wakeups, now: datetime
) -> None:
    """What happens the moment a command may go to its device. Destroying the container key
    does not wait for the device: the secure side is unreadable from now on, even if the
    device never comes back online (DESIGN.md flow 6)."""
    if command.type in ("wipe_secure_side", "wipe_device", "retire"):
        keys.destroy(
            session,
            device_id=command.device_id,
            reason=f"{command.type} command {command.id}",
            actor=actor,
            now=now,
        )
    if command.type == "retire":
        _retire_now(session, command, actor=actor, now=now)
        return
    wakeups.announce(session, [command.device_id])


def _retire_now(session: Session, command: Command, *, actor: Actor, now: datetime) -> None:
    """Retirement never waits for the device, which may be broken or gone: once approved, its
    certificates are revoked at once, so it can no longer authenticate (the agent, refused,
    deletes its secure side). No device receipt exists for it; the evidence says so."""
    device = devices_repository.get_device(session, command.device_id, for_update=True)
    assert device is not None
    devices_service.retire(
        session, device=device, reason=command.reason or "retired", actor=actor, now=now
    )
    command.state = CommandState.succeeded
    metrics.command_reached(command.type, command.state)
    command.completed_at = now
    command.executed_at = now
    command.evidence = {"carried_out_by": "server", "device_state": device.state}
    session.add(command)
    audit(
        session,
        command,
        "command.succeeded",
        actor=actor,
        now=now,
        evidence=command.evidence,
        receipt_verified=False,
    )
    close_open_commands(session, device, now=now)


# --- approval and cancelling ----------------------------------------------------------------
def locked(session: Session, command_id: uuid.UUID) -> Command:
    command = repository.get(session, command_id, for_update=True)
    if command is None:
        raise NotFoundError(f"no command {command_id}", code="command_not_found")
    return command


def approve(
    session: Session,
    *,
    command_id: uuid.UUID,
    approver: Requester,
    wakeups: Wakeups,
    now: datetime,
) -> Command:
    """A second it_admin approves a two-person command; the requester never can."""
    command = locked(session, command_id)
    if command.state != CommandState.pending_approval:
        raise ConflictError(
            f"command is {command.state}; only a command pending approval can be approved",
            code="not_pending_approval",
        )
    if approver.user_id is not None and approver.user_id == command.requested_by_id:
        audit(
            session,
            command,
            "command.approval_refused",
            actor=approver.actor,
            now=now,
            why="the requester cannot approve their own command",
        )
        raise PermissionDeniedError(
            f"{command.type.replace('_', ' ')} needs a second {role_name(Role.it_admin).one}: "
            "you requested it, so someone else must approve it",
            code="second_approver_required",
            keep_changes=True,
        )
    device = devices_repository.get_device(session, command.device_id, for_update=True)
    if device is None or device.state != DeviceState.active:
        raise ConflictError("the device is no longer active", code="device_not_active")
    command.state = CommandState.queued
    metrics.command_reached(command.type, command.state)
    command.approved_by = approver.actor.name
    command.approved_at = now
    command.not_before = now
    session.add(command)
    audit(
        session,
        command,
        "command.approved",
        actor=approver.actor,
        now=now,
        requested_by=command.requested_by,
    )
    _on_queued(session, command, actor=approver.actor, wakeups=wakeups, now=now)
    return command


def cancel(
    session: Session, *, command_id: uuid.UUID, actor: Actor, reason: str | None, now: datetime
) -> Command:
    """Withdraw a command that cannot have run: not yet delivered, or delivered under an
    envelope that has since expired (the device refuses it)."""
    command = locked(session, command_id)
    if command.state not in OPEN_STATES:
        raise ConflictError(f"command is already {command.state}", code="command_closed")
    if command.state == CommandState.delivered:
        assert command.envelope_expires_at is not None
        safe_from = command.envelope_expires_at + ENVELOPE_SKEW
        if now < safe_from:
            raise ConflictError(
                f"the device was sent this command at {command.delivered_at:%H:%M:%S} UTC and "
                "may be carrying it out; wait for its receipt, or cancel from "
                f"{safe_from:%H:%M:%S} UTC if none arrives",
                code="command_in_flight",
            )
    command.state = CommandState.cancelled
    metrics.command_reached(command.type, command.state)
    command.cancelled_by = actor.name or actor.type
    command.cancelled_at = now
    command.cancel_reason = reason
    session.add(command)
    audit(session, command, "command.cancelled", actor=actor, now=now, cancel_reason=reason)
    return command


def close_open_commands(session: Session, device: Device, *, now: datetime) -> None:
    """A device that has left service takes no more commands: cancel what is still open."""
    for other in repository.open_of_device(session, device.id, for_update=True):
        other.state = CommandState.cancelled
        metrics.command_reached(other.type, other.state)
        other.cancelled_by = "tabard"
        other.cancelled_at = now
        other.cancel_reason = f"the device was {device.state}"
        session.add(other)
        audit(
            session,
            other,
            "command.cancelled",
            actor=Actor.system("commands"),
            now=now,
            cancel_reason=other.cancel_reason,
        )


# --- expiry ---------------------------------------------------------------------------------
def expire_due(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Expire open commands past their time to live, each audited. Returns how many."""
    expired = repository.expiring(session, now=now, limit=limit)
    for command in expired:
        before = command.state
        command.state = CommandState.expired
        metrics.command_reached(command.type, command.state)
        command.completed_at = now
        session.add(command)
        audit(
            session,
            command,
            "command.expired",
            actor=SCHEDULER,
            now=now,
            state_before=before,
            expires_at=command.expires_at.isoformat() if command.expires_at else None,
            deliveries=command.deliveries,
        )
    return len(expired)


def blocking_command(session: Session, device_id: uuid.UUID) -> Command | None:
    """An approved full wipe or retire still open: the secure side stays shut meanwhile."""
    return next(
        (
            c
            for c in repository.open_of_device(session, device_id)
            if c.type in ("wipe_device", "retire") and c.state != CommandState.pending_approval
        ),
        None,
    )


def get_detail(session: Session, command_id: uuid.UUID) -> CommandDetail:
    command = repository.get(session, command_id)
    if command is None:
        raise NotFoundError(f"no command {command_id}", code="command_not_found")
    return detail(command, repository.serials(session, [command.device_id]).get(command.device_id))
