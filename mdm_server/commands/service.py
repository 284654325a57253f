"""Rules for commands: queue, approve, cancel, deliver, record receipts, expire. Never commits.

Lifecycle (DESIGN.md flow 4): a command is created `queued`, or `pending_approval` when its
type needs a second it_admin; it is `delivered` once the device has been sent a signed
envelope, and `succeeded` or `failed` only on a receipt signed by the device's key. It is
`cancelled` by an administrator before it can run, or `expired` when its time to live runs
out first; wipes and retire never expire. Every transition is an audit event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.commands import repository
from mdm_server.commands.catalogue import CommandKind, kind_of, validate_params
from mdm_server.commands.models import OPEN_STATES, Command, CommandState
from mdm_server.commands.receipts import InvalidReceiptError, verify_receipt
from mdm_server.commands.schemas import (
    CommandBatch,
    CommandCreate,
    CommandDetail,
    CommandPublic,
    CommandTarget,
)
from mdm_server.commands.wakeups import Wakeups
from mdm_server.crypto.command_signing import CommandSigner, EnvelopeClaims, envelope_digest
from mdm_server.devices import repository as devices_repository
from mdm_server.devices import service as devices_service
from mdm_server.devices.lookup import find_device
from mdm_server.devices.models import Device, DeviceState
from mdm_server.devices.repository import DeviceFilter
from mdm_server.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from mdm_server.secure import keys

# An envelope is good for a short while only: a captured one cannot be replayed later, and a
# delivered command whose envelope lapsed without a receipt can be cancelled safely (the
# device refuses the old envelope) or sent again under a fresh one.
ENVELOPE_LIFETIME = timedelta(minutes=2)
ENVELOPE_SKEW = timedelta(seconds=60)  # the device clock tolerance the agent applies
MAX_TARGETS = 10_000
KEEP_DIGESTS = 8


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
def targets(session: Session, target: CommandTarget) -> list[Device]:
    """The devices a command goes to: active ones only when chosen by group or filter; a device
    named explicitly must be active."""
    if target.device is not None or target.devices is not None:
        names = [target.device] if target.device is not None else list(target.devices or [])
        found = [find_device(session, name, for_update=True) for name in dict.fromkeys(names)]
        inactive = [d.serial for d in found if d.state != DeviceState.active]
        if inactive:
            raise ConflictError(
                f"not active, so it cannot take commands: {', '.join(inactive)}",
                code="device_not_active",
            )
        return found
    if target.group is not None:
        where = DeviceFilter(group=target.group, state=DeviceState.active)
    else:
        selector = target.filter
        assert selector is not None
        officer_id = None
        if selector.officer is not None:
            officer_id = devices_service.officer_by_collar(session, selector.officer).id
        where = DeviceFilter(
            group=selector.group,
            officer_id=officer_id,
            model=selector.model,
            android_version=selector.android_version,
            compliance=selector.compliance,
            last_seen_before=selector.last_seen_before,
            state=DeviceState.active,
        )
    rows, total = devices_repository.list_devices(session, where=where, limit=MAX_TARGETS, offset=0)
    if total > MAX_TARGETS:
        raise InvalidRequestError(
            f"that selects {total} devices; send to at most {MAX_TARGETS} at a time",
            code="too_many_targets",
        )
    if not rows:
        raise InvalidRequestError("no active device matches that target", code="no_targets")
    return [device for device, _ in rows]


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
    for device in targets(session, request.target):
        existing = repository.open_like(session, device.id, kind.name, params)
        if existing is not None:
            reused.append(existing)
            continue
        created.append(
            create(
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
        )
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
    """One command for one device (its row locked by the caller), audited, and carried
    forward at once if it needs no approval."""
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
    session.flush()
    record(
        session,
        actor=requester.actor,
        action="command.requested",
        now=now,
        target_type="device",
        target_id=device.id,
        detail=_audit_detail(command, serial=device.serial),
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
) -> Command:
    """The device's open command of this kind and parameters, else a new one."""
    existing = repository.open_like(session, device.id, kind.name, params)
    if existing is not None:
        return existing
    return create(
        session,
        device=device,
        kind=kind,
        params=params,
        reason=reason,
        requester=requester,
        batch_id=uuid.uuid4(),
        wakeups=wakeups,
        now=now,
    )


def _audit_detail(command: Command, **extra: Any) -> dict[str, Any]:
    return {
        "command_id": str(command.id),
        "type": command.type,
        "params": command.params,
        "reason": command.reason,
        "state": command.state,
        **extra,
    }


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
    command.completed_at = now
    command.executed_at = now
    command.evidence = {"carried_out_by": "server", "device_state": device.state}
    session.add(command)
    record(
        session,
        actor=actor,
        action="command.succeeded",
        now=now,
        target_type="device",
        target_id=device.id,
        detail={
            "command_id": str(command.id),
            "type": command.type,
            "evidence": command.evidence,
            "receipt_verified": False,
        },
    )
    _close_open_commands(session, device, now=now)


# --- approval and cancelling ----------------------------------------------------------------
def _locked(session: Session, command_id: uuid.UUID) -> Command:
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
    command = _locked(session, command_id)
    if command.state != CommandState.pending_approval:
        raise ConflictError(
            f"command is {command.state}; only a command pending approval can be approved",
            code="not_pending_approval",
        )
    if approver.user_id is not None and approver.user_id == command.requested_by_id:
        record(
            session,
            actor=approver.actor,
            action="command.approval_refused",
            now=now,
            target_type="device",
            target_id=command.device_id,
            detail=_audit_detail(command, why="the requester cannot approve their own command"),
        )
        raise PermissionDeniedError(
            f"{command.type} needs a second it_admin: you requested it, so someone else must "
            "approve it",
            code="second_approver_required",
            keep_changes=True,
        )
    device = devices_repository.get_device(session, command.device_id, for_update=True)
    if device is None or device.state != DeviceState.active:
        raise ConflictError("the device is no longer active", code="device_not_active")
    command.state = CommandState.queued
    command.approved_by = approver.actor.name
    command.approved_at = now
    command.not_before = now
    session.add(command)
    record(
        session,
        actor=approver.actor,
        action="command.approved",
        now=now,
        target_type="device",
        target_id=command.device_id,
        detail=_audit_detail(command, requested_by=command.requested_by),
    )
    _on_queued(session, command, actor=approver.actor, wakeups=wakeups, now=now)
    return command


def cancel(
    session: Session, *, command_id: uuid.UUID, actor: Actor, reason: str | None, now: datetime
) -> Command:
    """Withdraw a command that cannot have run: not yet delivered, or delivered under an
    envelope that has since expired (the device refuses it)."""
    command = _locked(session, command_id)
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
    command.cancelled_by = actor.name or actor.type
    command.cancelled_at = now
    command.cancel_reason = reason
    session.add(command)
    record(
        session,
        actor=actor,
        action="command.cancelled",
        now=now,
        target_type="device",
        target_id=command.device_id,
        detail=_audit_detail(command, cancel_reason=reason),
    )
    return command


# --- delivery -------------------------------------------------------------------------------
def deliver(
    session: Session,
    *,
    device_id: uuid.UUID,
    signer: CommandSigner,
    issuer: str,
    actor: Actor,
    now: datetime,
    via: str,
) -> list[str]:
    """Signed envelopes for the device's deliverable commands, in its order, each marked
    delivered and audited (`via`: long_poll or checkin)."""
    envelopes = []
    for command in repository.deliverable(session, device_id, now=now):
        expires = now + ENVELOPE_LIFETIME
        if command.expires_at is not None:
            expires = min(expires, command.expires_at)
        envelope = signer.sign(
            EnvelopeClaims(
                issuer=issuer,
                device_id=device_id,
                command_id=command.id,
                seq=command.device_seq,
                type=command.type,
                params=command.params,
                issued_at=now,
                not_before=command.not_before,
                expires_at=expires,
            )
        )
        command.state = CommandState.delivered
        command.delivered_at = command.delivered_at or now
        command.deliveries += 1
        command.envelope_expires_at = expires
        command.envelope_digests = [
            *command.envelope_digests[-(KEEP_DIGESTS - 1) :],
            envelope_digest(envelope),
        ]
        session.add(command)
        record(
            session,
            actor=actor,
            action="command.delivered",
            now=now,
            target_type="device",
            target_id=device_id,
            detail={
                "command_id": str(command.id),
                "type": command.type,
                "delivery": command.deliveries,
                "via": via,
                "envelope_expires_at": expires.isoformat(),
            },
        )
        envelopes.append(envelope)
    return envelopes


# --- receipts -------------------------------------------------------------------------------
def record_receipt(
    session: Session,
    *,
    device_id: uuid.UUID,
    device_key: ec.EllipticCurvePublicKey,
    command_id: uuid.UUID,
    token: str,
    actor: Actor,
    now: datetime,
) -> tuple[Command, bool]:
    """Verify the device's signed receipt and record the outcome it states; (command, whether
    it repeats the receipt already recorded). A receipt that does not verify is refused and
    the refusal audited."""
    command = _locked(session, command_id)
    if command.device_id != device_id:
        raise NotFoundError(f"no command {command_id} for this device", code="command_not_found")
    if command.receipt is not None:
        if command.receipt == token:
            return command, True
        raise ConflictError("a different receipt is already recorded", code="receipt_recorded")
    try:
        receipt = verify_receipt(token, key=device_key, device_id=device_id, command_id=command_id)
        if receipt.envelope_sha256 not in command.envelope_digests:
            raise InvalidReceiptError("receipt names an envelope this server did not send")
    except InvalidReceiptError as refusal:
        record(
            session,
            actor=actor,
            action="command.receipt_refused",
            now=now,
            target_type="device",
            target_id=device_id,
            detail={"command_id": str(command_id), "why": str(refusal.detail)},
        )
        refusal.keep_changes = True
        raise
    before = command.state
    command.state = receipt.result
    command.completed_at = now
    command.executed_at = receipt.executed_at
    command.receipt = token
    command.evidence = receipt.evidence
    command.error = receipt.error
    session.add(command)
    record(
        session,
        actor=actor,
        action=f"command.{receipt.result}",
        now=now,
        target_type="device",
        target_id=device_id,
        detail={
            "command_id": str(command.id),
            "type": command.type,
            "executed_at": receipt.executed_at.isoformat(),
            "evidence": receipt.evidence,
            "error": receipt.error,
            "state_before": before,
            "receipt_verified": True,
        },
    )
    if receipt.result == CommandState.succeeded:
        _on_succeeded(session, command, actor=actor, now=now)
    return command, False


def _on_succeeded(session: Session, command: Command, *, actor: Actor, now: datetime) -> None:
    """A device that has reset itself or left service can no longer authenticate."""
    if command.type != "wipe_device":
        return
    device = devices_repository.get_device(session, command.device_id, for_update=True)
    assert device is not None
    device.state = DeviceState.wiped
    session.add(device)
    revoked = devices_repository.revoke_certificates(session, device.id, now=now, reason="wiped")
    record(
        session,
        actor=actor,
        action="device.wiped",
        now=now,
        target_type="device",
        target_id=device.id,
        detail={
            "serial": device.serial,
            "command_id": str(command.id),
            "certificates_revoked": revoked,
        },
    )
    _close_open_commands(session, device, now=now)


def _close_open_commands(session: Session, device: Device, *, now: datetime) -> None:
    """A device that has left service takes no more commands: cancel what is still open."""
    for other in repository.open_of_device(session, device.id, for_update=True):
        other.state = CommandState.cancelled
        other.cancelled_by = "tabard"
        other.cancelled_at = now
        other.cancel_reason = f"the device was {device.state}"
        session.add(other)
        record(
            session,
            actor=Actor.system("commands"),
            action="command.cancelled",
            now=now,
            target_type="device",
            target_id=device.id,
            detail=_audit_detail(other, cancel_reason=other.cancel_reason),
        )


# --- expiry ---------------------------------------------------------------------------------
def expire_due(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Expire open commands past their time to live, each audited. Returns how many."""
    expired = repository.expiring(session, now=now, limit=limit)
    for command in expired:
        before = command.state
        command.state = CommandState.expired
        command.completed_at = now
        session.add(command)
        record(
            session,
            actor=Actor.system("scheduler"),
            action="command.expired",
            now=now,
            target_type="device",
            target_id=command.device_id,
            detail=_audit_detail(
                command,
                state_before=before,
                expires_at=command.expires_at.isoformat() if command.expires_at else None,
                deliveries=command.deliveries,
            ),
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
