"""Getting commands to devices and their outcomes back: signed envelopes out (long poll and
check-in), device-signed receipts in. Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import Session

from mdm_server import metrics
from mdm_server.audit.service import Actor, record
from mdm_server.commands import repository
from mdm_server.commands.models import Command, CommandState
from mdm_server.commands.receipts import InvalidReceiptError, verify_receipt
from mdm_server.commands.service import audit, close_open_commands, locked
from mdm_server.crypto.command_signing import (
    ENVELOPE_LIFETIME,
    EnvelopeClaims,
    EnvelopeSigner,
    envelope_digest,
)
from mdm_server.devices import repository as devices_repository
from mdm_server.devices.models import DeviceState
from mdm_server.errors import ConflictError, NotFoundError
from mdm_server.policies import compliance

KEEP_DIGESTS = 8  # envelopes remembered per command, to check receipts against
ReceiptListener = Callable[[Session, Command], None]
_receipt_listeners: list[ReceiptListener] = []


def listen_for_receipts(listener: ReceiptListener) -> None:
    """Have `listener` told of every verified receipt, in the receipt's unit of work: how a
    domain that sends commands (app releases) follows their outcomes without the commands
    domain knowing of it."""
    if listener not in _receipt_listeners:
        _receipt_listeners.append(listener)


def deliver(
    session: Session,
    *,
    device_id: uuid.UUID,
    signer: EnvelopeSigner,
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
        if command.state != CommandState.delivered:  # its first envelope, not a resend
            metrics.command_reached(command.type, CommandState.delivered)
        command.state = CommandState.delivered
        command.delivered_at = command.delivered_at or now
        command.deliveries += 1
        command.envelope_expires_at = expires
        command.envelope_digests = [
            *command.envelope_digests[-(KEEP_DIGESTS - 1) :],
            envelope_digest(envelope),
        ]
        session.add(command)
        audit(
            session,
            command,
            "command.delivered",
            actor=actor,
            now=now,
            delivery=command.deliveries,
            via=via,
            envelope_expires_at=expires.isoformat(),
        )
        envelopes.append(envelope)
    return envelopes


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
    command = locked(session, command_id)
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
        audit(
            session,
            command,
            "command.receipt_refused",
            actor=actor,
            now=now,
            why=str(refusal.detail),
        )
        refusal.keep_changes = True
        raise
    before = command.state
    command.state = receipt.result
    metrics.command_reached(command.type, command.state)
    metrics.command_answered(command.type, command.approved_at or command.created_at, now)
    command.completed_at = now
    command.executed_at = receipt.executed_at
    command.receipt = token
    command.evidence = receipt.evidence
    command.error = receipt.error
    session.add(command)
    audit(
        session,
        command,
        f"command.{receipt.result}",
        actor=actor,
        now=now,
        executed_at=receipt.executed_at.isoformat(),
        evidence=receipt.evidence,
        error=receipt.error,
        state_before=before,
        receipt_verified=True,
    )
    if command.type == "wipe_device" and receipt.result == CommandState.succeeded:
        _device_wiped(session, command, actor=actor, now=now)
    for listener in _receipt_listeners:
        listener(session, command)
    return command, False


def _device_wiped(session: Session, command: Command, *, actor: Actor, now: datetime) -> None:
    """A device that has reset itself can no longer authenticate: its certificates go."""
    device = devices_repository.get_device(session, command.device_id, for_update=True)
    assert device is not None
    device.state = DeviceState.wiped
    session.add(device)
    compliance.stand_down(session, device=device, reason="device wiped", now=now)
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
    close_open_commands(session, device, now=now)
