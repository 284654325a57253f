"""The gate (DESIGN.md flow 5): whether an officer may enter a device's secure side now, and
the session and container key they get if so. Never commits.

Checked in this order, each refusal naming its reason: the officer's collar number and PIN
(attempts counted, lockout after the policy's limit), the officer may use this device (it is
assigned to them), the device is compliant or within grace and not blocked by enforcement, the
PIN need not be changed (or a new one is given, and is acceptable), and the current
appropriate-use policy text is acknowledged (or is acknowledged now).

Every check passes before anything the entry changes is written: the new PIN, the
acknowledgement and the session are written together, after the last check, in the request's
one transaction. A refused entry leaves only its audit event and the PIN's count of wrong
attempts (a right PIN ends a run of wrong ones, whatever is refused after it). Compliance may
be brought up to date on the way, as a check-in would: that is the device's record, not the
entry's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.auth import repository as staff_repository
from mdm_server.auth.models import StaffUser
from mdm_server.auth.roles import Role
from mdm_server.commands import service as commands_service
from mdm_server.context import AppContext
from mdm_server.crypto.device_wrap import wrap_for_device
from mdm_server.crypto.secrets import digest, new_secret
from mdm_server.deps import DevicePrincipal
from mdm_server.devices import repository as devices_repository
from mdm_server.devices.models import Device
from mdm_server.devices.repository import DeviceRef
from mdm_server.errors import AuthenticationError, PermissionDeniedError
from mdm_server.policies import compliance
from mdm_server.policies import repository as policy_repository
from mdm_server.policies.models import ComplianceStatus
from mdm_server.policies.resolution import resolve_device
from mdm_server.secure import acknowledgements, keys, pins, repository
from mdm_server.secure.models import OfficerPin, SecureSession
from mdm_server.secure.schemas import (
    OfficerOnDevice,
    OfflineAllowance,
    SecureSessionOpen,
    SecureSessionOpened,
    WrappedKey,
)
from mdm_server.secure.sessions import TOKEN_PREFIX

# What a policy that says nothing allows. Offline use is off unless a policy turns it on.
DEFAULTS: dict[str, Any] = {
    "secure_side.max_session_hours": 12,
    "secure_side.inactivity_lock_minutes": 10,
    "secure_side.lock_on_switch_to_personal": True,
    "secure_side.offline_grace_hours": 0,
    "secure_side.pin_max_failed_attempts": 5,
    "secure_side.pin_lockout_minutes": 30,
}
ENTRY_ALLOWED = {
    ComplianceStatus.compliant,
    ComplianceStatus.incompatible,
    ComplianceStatus.in_grace,
}
BLOCKING_ACTIONS = {"block_secure_side", "lock_device", "wipe_secure_side"}


@dataclass(frozen=True)
class GatePolicy:
    """The resolved policy's settings the gate and the session need."""

    settings: dict[str, Any]

    def get(self, path: str) -> Any:
        value = self.settings.get(path)
        return DEFAULTS.get(path) if value is None else value

    @property
    def pin_limits(self) -> pins.PinLimits:
        return pins.PinLimits(
            max_failed_attempts=int(self.get("secure_side.pin_max_failed_attempts")),
            lockout=timedelta(minutes=int(self.get("secure_side.pin_lockout_minutes"))),
        )


def officer_actor(officer: StaffUser, caller: DevicePrincipal) -> Actor:
    """The officer as the actor of what they do on a device, seen from the device's address."""
    return Actor(
        type="staff",
        id=str(officer.id),
        name=officer.username,
        role=officer.role,
        source_ip=caller.actor.source_ip,
        request_id=caller.actor.request_id,
    )


def policy_for(session: Session, device: DeviceRef) -> GatePolicy:
    resolved, _ = resolve_device(
        session, device_id=device.id, group=device.group_name, epoch=device.current_policy_epoch
    )
    return GatePolicy(resolved.settings)


def _refuse(
    session: Session,
    *,
    actor: Actor,
    device: DeviceRef,
    now: datetime,
    code: str,
    detail: dict[str, Any],
) -> PermissionDeniedError:
    """A refusal, audited; the audit event survives the refused request."""
    record(
        session,
        actor=actor,
        action="secure.entry_refused",
        now=now,
        target_type="device",
        target_id=device.id,
        detail={"reason": code, **{k: v for k, v in detail.items() if k != "text"}},
    )
    return PermissionDeniedError(detail, code=code, keep_changes=True)


def _check_not_leaving_service(
    session: Session, *, device: DeviceRef, lost_at: datetime | None, actor: Actor, now: datetime
) -> None:
    """Shut while the device is reported lost, or an approved full wipe or retire is open."""
    if lost_at is not None:
        raise _refuse(
            session,
            actor=actor,
            device=device,
            now=now,
            code="device_reported_lost",
            detail={
                "message": f"this device was reported lost at {lost_at:%Y-%m-%d %H:%M} UTC; "
                "IT must mark it found before the secure side opens again"
            },
        )
    pending = commands_service.blocking_command(session, device.id)
    if pending is not None:
        raise _refuse(
            session,
            actor=actor,
            device=device,
            now=now,
            code="device_leaving_service",
            detail={
                "message": f"a {pending.type.replace('_', ' ')} command ({pending.id}) is under "
                "way for this device",
                "command_id": str(pending.id),
            },
        )


def _check_not_cloned(
    session: Session, *, device: DeviceRef, cloned_at: datetime | None, actor: Actor, now: datetime
) -> None:
    """Shut once a copy of the device was found in use: both copies hold the device key, so
    either could receive the container key; only re-enrolment (a new key, on the officer's
    handset alone) opens it again (docs/device-protocol.md §7.1)."""
    if cloned_at is not None:
        found = f"{cloned_at:%Y-%m-%d %H:%M:%S} UTC"
        raise _refuse(
            session,
            actor=actor,
            device=device,
            now=now,
            code="device_cloned",
            detail={
                "message": f"a copy of this device was found in use at {found}; IT must "
                "re-enrol it before the secure side opens again"
            },
        )


def _check_compliance(session: Session, *, device: DeviceRef, actor: Actor, now: datetime) -> None:
    """Compliant, incompatible or in grace, with no blocking enforcement due; else refused
    naming the failing findings."""
    if compliance.needs_evaluation(device, posture_changed=False, now=now):
        posture = devices_repository.posture_of(session, device.id)
        compliance.evaluate_device(
            session,
            device_id=device.id,
            group=device.group_name,
            posture=posture,
            now=now,
            cause="gate",
            known=device,
        )
    stored = policy_repository.compliance(session, device.id)
    assert stored is not None  # every evaluation stores its result
    blocking = sorted({a["action"] for a in stored.actions if a["action"] in BLOCKING_ACTIONS})
    if stored.status not in ENTRY_ALLOWED or blocking:
        findings = [
            {"rule": f["rule"], "status": f["status"], "message": f["message"]}
            for f in stored.findings
            if f["status"] in ("non_compliant", "unknown")
        ]
        raise _refuse(
            session,
            actor=actor,
            device=device,
            now=now,
            code="device_non_compliant",
            detail={
                "message": "this device may not open the secure side: "
                + "; ".join(f["message"] or f["rule"] for f in findings)
                if findings
                else "this device may not open the secure side",
                "status": stored.status,
                "findings": findings,
                "enforcement": blocking,
            },
        )


def _acknowledgement_due(
    session: Session,
    *,
    officer: StaffUser,
    device: DeviceRef,
    policy: GatePolicy,
    offered: str | None,
    actor: Actor,
    now: datetime,
) -> acknowledgements.Pending | None:
    """The current appropriate-use text must be acknowledged before entry: refused unless it
    was already, or is offered now (then returned, to be kept once every check has passed)."""
    pending = acknowledgements.pending(
        session,
        officer=officer,
        device_id=device.id,
        version=policy.get("appropriate_use.policy_text_version"),
        text=policy.get("appropriate_use.policy_text") or "",
    )
    if pending is not None and offered != pending.version:
        raise _refuse(
            session,
            actor=actor,
            device=device,
            now=now,
            code="acknowledgement_required",
            detail={
                "message": f"read and acknowledge appropriate-use policy {pending.version} first",
                "policy_text_version": pending.version,
                "text": pending.text,
            },
        )
    return pending


def _assigned(
    session: Session, *, officer: StaffUser, device: DeviceRef, actor: Actor, now: datetime
) -> Device:
    """The device, if it is assigned to the officer; else refused."""
    assigned = devices_repository.get_device(session, device.id)
    if assigned is None or assigned.officer_id != officer.id:
        raise _refuse(
            session,
            actor=actor,
            device=device,
            now=now,
            code="device_not_assigned",
            detail={
                "message": f"this device is not assigned to officer {officer.collar_number}; "
                "IT assigns it with `tabard devices assign`"
            },
        )
    return assigned


def _new_pin_due(
    session: Session,
    *,
    stored: OfficerPin,
    request: SecureSessionOpen,
    device: DeviceRef,
    actor: Actor,
    now: datetime,
) -> str | None:
    """The new PIN to set, where the one IT set must be changed: refused if none is given,
    refused (422) if it breaks the rules; None where no change is due. Writes nothing but a
    refusal."""
    if not stored.must_change:
        return None
    if request.new_pin is None:
        raise _refuse(
            session,
            actor=actor,
            device=device,
            now=now,
            code="pin_change_required",
            detail={"message": "choose a new PIN: the one IT set must be changed now"},
        )
    pins.check_new_pin(request.new_pin, current_pin=request.pin)
    return request.new_pin


def _officer(session: Session, collar_number: str, context: AppContext, pin: str) -> StaffUser:
    officer = staff_repository.get_user_by_collar(session, collar_number)
    if officer is None or officer.role != Role.officer or officer.disabled_at is not None:
        context.passwords.verify(None, pin)  # as long as a wrong PIN takes
        raise AuthenticationError({"message": "wrong collar number or PIN"}, code="invalid_pin")
    return officer


def open_session(
    session: Session,
    *,
    caller: DevicePrincipal,
    request: SecureSessionOpen,
    context: AppContext,
    now: datetime,
) -> SecureSessionOpened:
    """Run the gate; on success, a new secure session and the container key for this device."""
    device = caller.device
    policy = policy_for(session, device)
    officer = _officer(session, request.collar_number, context, request.pin)
    actor = officer_actor(officer, caller)
    stored_pin = pins.verify_pin(
        session,
        officer=officer,
        pin=request.pin,
        passwords=context.passwords,
        limits=policy.pin_limits,
        actor=actor,
        now=now,
    )
    assigned = _assigned(session, officer=officer, device=device, actor=actor, now=now)
    _check_not_leaving_service(
        session, device=device, lost_at=assigned.lost_at, actor=actor, now=now
    )
    _check_not_cloned(session, device=device, cloned_at=assigned.cloned_at, actor=actor, now=now)
    _check_compliance(session, device=device, actor=actor, now=now)
    new_pin = _new_pin_due(
        session, stored=stored_pin, request=request, device=device, actor=actor, now=now
    )
    acknowledgement = _acknowledgement_due(
        session,
        officer=officer,
        device=device,
        policy=policy,
        offered=request.acknowledge_policy_text_version,
        actor=actor,
        now=now,
    )
    # Every check has passed: only now does the entry change anything.
    if new_pin is not None:
        pins.change_pin(
            session,
            stored=stored_pin,
            officer=officer,
            new_pin=new_pin,
            current_pin=request.pin,
            passwords=context.passwords,
            actor=actor,
            now=now,
        )
    if acknowledgement is not None:
        acknowledgement.keep(session, actor=actor, now=now)
    return _start(
        session,
        officer=officer,
        device=device,
        policy=policy,
        context=context,
        actor=actor,
        now=now,
    )


def _start(
    session: Session,
    *,
    officer: StaffUser,
    device: DeviceRef,
    policy: GatePolicy,
    context: AppContext,
    actor: Actor,
    now: datetime,
) -> SecureSessionOpened:
    key, secret = keys.live_or_new_key(
        session, device_id=device.id, master=context.master_key, now=now
    )
    assert device.certificate_serial is not None
    assert device.certificate_pem is not None
    device_key = context.device_keys.get(device.certificate_serial, device.certificate_pem)
    envelope = wrap_for_device(
        secret, device_key=device_key, device_id=str(device.id), key_id=str(key.id)
    )
    repository.end_open_sessions(session, now=now, reason="superseded", device_id=device.id)
    token = TOKEN_PREFIX + new_secret()
    inactivity_s = int(policy.get("secure_side.inactivity_lock_minutes")) * 60
    secure = SecureSession(
        device_id=device.id,
        officer_id=officer.id,
        token_digest=digest(token),
        container_key_id=key.id,
        started_at=now,
        expires_at=now + timedelta(hours=int(policy.get("secure_side.max_session_hours"))),
        last_activity_at=now,
        inactivity_s=inactivity_s,
    )
    session.add(secure)
    grace_hours = int(policy.get("secure_side.offline_grace_hours"))
    offline = OfflineAllowance(
        allowed=grace_hours > 0,
        until=now + timedelta(hours=grace_hours) if grace_hours > 0 else None,
        pin_max_failed_attempts=policy.pin_limits.max_failed_attempts,
    )
    record(
        session,
        actor=actor,
        action="secure.session_opened",
        now=now,
        target_type="device",
        target_id=device.id,
        detail={
            "session_id": str(secure.id),
            "collar_number": officer.collar_number,
            "device_serial": device.serial,
            "container_key_id": str(key.id),
            "offline_until": offline.until.isoformat() if offline.until else None,
        },
    )
    return SecureSessionOpened(
        session_id=secure.id,
        session_token=token,
        officer=OfficerOnDevice(
            collar_number=officer.collar_number or "", display_name=officer.display_name
        ),
        started_at=now,
        expires_at=secure.expires_at,
        inactivity_lock_s=inactivity_s,
        lock_on_switch_to_personal=bool(policy.get("secure_side.lock_on_switch_to_personal")),
        container_key=WrappedKey.model_validate(envelope),
        offline=offline,
        policy_text_version=policy.get("appropriate_use.policy_text_version"),
    )
