"""Rules for the fleet: check-in, inventory, assignment and retirement. Never commits."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.auth import repository as staff_repository
from mdm_server.auth.models import StaffUser
from mdm_server.auth.roles import Role
from mdm_server.config import Settings
from mdm_server.devices import repository
from mdm_server.devices.lookup import find_device
from mdm_server.devices.models import (
    COMPLIANCE_NOT_APPLICABLE,
    Device,
    DeviceState,
    PostureRecord,
)
from mdm_server.devices.quick import QuickCheckin
from mdm_server.devices.repository import DeviceFilter, DeviceRef
from mdm_server.devices.schemas import (
    CertificatePublic,
    CheckinResponse,
    DeviceAssignment,
    DeviceDetail,
    DevicePage,
    DevicePublic,
    DeviceStanding,
    OfficerRef,
    Posture,
    PostureEntry,
)
from mdm_server.errors import ConflictError, InvalidRequestError
from mdm_server.policies import compliance, resolution
from mdm_server.policies import repository as policy_repository
from mdm_server.policies.models import ComplianceStatus
from policies.posture import within_contract

# A device's compliance as the inventory filters it; `not_evaluated` means never checked in
# since policies were introduced, `not_applicable` retired or wiped.
COMPLIANCE_FILTERS = (*ComplianceStatus.__members__, "not_evaluated", COMPLIANCE_NOT_APPLICABLE)


def device_actor(
    device_id: uuid.UUID, serial: str, *, source_ip: str | None, request_id: str | None
) -> Actor:
    return Actor(
        type="device",
        id=str(device_id),
        name=serial,
        role=Role.device,
        source_ip=source_ip,
        request_id=request_id,
    )


def posture_digest(posture: Posture) -> str:
    """A digest of what the posture says, ignoring when it was collected. The schema fixes the
    field order, so the JSON is deterministic."""
    content = posture.model_dump_json(exclude={"collected_at"}, exclude_none=True)
    return hashlib.sha256(content.encode()).hexdigest()


def check_in(
    session: Session, *, device: DeviceRef, posture: Posture, now: datetime, settings: Settings
) -> CheckinResponse:
    """Store the latest posture and `last_seen`, keeping a bounded history of posture changes,
    and evaluate compliance when anything that decides it may have changed.

    What the policy's privacy contract does not collect is dropped before anything is stored.
    A check-in that repeats the last posture, under an unchanged policy, on a device not
    failing, touches only the times."""
    digest = posture_digest(posture)
    changed = digest != device.posture_digest
    document: dict[str, Any] | None = None
    resolved = None
    if changed:
        resolved = resolution.resolve_device(
            session, device_id=device.id, group=device.group_name, epoch=device.current_policy_epoch
        )
        document = within_contract(
            posture.model_dump(mode="json", exclude_none=True),
            resolution.privacy_contract(resolved[0]),
        )
    software = repository.SoftwareFacts(
        posture.android_version, posture.sdk, posture.security_patch
    )
    if not repository.record_checkin(
        session, device.id, posture=document, digest=digest, now=now, software=software
    ):
        raise ConflictError("device is no longer active", code="device_not_active")
    if document is not None:
        repository.add_posture_record(
            session,
            PostureRecord(device_id=device.id, received_at=now, digest=digest, posture=document),
            keep=settings.posture_history_limit,
        )
    policy_version = device.policy_version
    status = device.compliance_status
    if compliance.needs_evaluation(device, posture_changed=changed, now=now):
        if document is None:
            document = repository.posture_of(session, device.id)
        evaluation = compliance.evaluate_device(
            session,
            device_id=device.id,
            group=device.group_name,
            posture=document,
            now=now,
            cause="checkin",
            resolved=resolved,
            known=device,
        )
        policy_version, status = evaluation.policy_version, evaluation.status
    return CheckinResponse(
        commands=[],
        policy_version=policy_version,
        checkin_interval_s=settings.checkin_interval_s,
        standing=_standing(session, device.id, status),
    )


def _standing(session: Session, device_id: uuid.UUID, status: str | None) -> DeviceStanding:
    """The device's compliance in words; its findings are read only when something fails."""
    if status in (None, ComplianceStatus.compliant):
        return DeviceStanding(status=status)
    stored = policy_repository.compliance(session, device_id)
    return standing(status, stored.findings if stored else None)


def standing(status: str | None, findings: list[dict[str, Any]] | None) -> DeviceStanding:
    """The device's compliance in words, from its stored findings."""
    if status in (None, ComplianceStatus.compliant):
        return DeviceStanding(status=status)
    failing = [f for f in findings or [] if f["status"] in ("non_compliant", "unknown")]
    deadlines = [
        datetime.fromisoformat(f["grace_deadline"]) for f in failing if f["grace_deadline"]
    ]
    return DeviceStanding(
        status=status,
        grace_until=min(deadlines) if status == ComplianceStatus.in_grace and deadlines else None,
        problems=[f["message"] or f["rule"] for f in failing],
    )


def quick_answer(quick: QuickCheckin, *, settings: Settings) -> CheckinResponse:
    """The answer to a check-in the quick path recorded: nothing changed, nothing owed."""
    return CheckinResponse(
        policy_version=quick.policy_version,
        checkin_interval_s=settings.checkin_interval_s,
        container_key_id=quick.container_key_id,
        standing=standing(quick.compliance_status, quick.findings),
        certificate=quick.certificate_pem,
    )


def _officer_ref(user: StaffUser | None) -> OfficerRef | None:
    if user is None:
        return None
    return OfficerRef(
        id=user.id, username=user.username, collar_number=user.collar_number, division=user.division
    )


def to_public(device: Device, officer: StaffUser | None) -> DevicePublic:
    return DevicePublic(
        id=device.id,
        serial=device.serial,
        imei=device.imei,
        manufacturer=device.manufacturer,
        model=device.model,
        android_version=device.android_version,
        sdk=device.sdk,
        security_patch=device.security_patch,
        knox_version=device.knox_version,
        warranty_bit=device.warranty_bit,
        state=device.state,
        group=device.group_name,
        officer=_officer_ref(officer),
        enrolled_at=device.enrolled_at,
        last_seen_at=device.last_seen_at,
        retired_at=device.retired_at,
        retired_reason=device.retired_reason,
        lost_at=device.lost_at,
        lost_reported_by=device.lost_reported_by if device.lost_at is not None else None,
        cloned_at=device.cloned_at,
        compliance=compliance_of(device),
        policy_version=device.policy_version,
    )


def compliance_of(device: Device) -> str | None:
    """The device's compliance as people are shown it: not applicable once it is out of
    service, whatever its last evaluation said."""
    if device.state != DeviceState.active:
        return COMPLIANCE_NOT_APPLICABLE
    return device.compliance_status


def officer_by_collar(session: Session, collar_number: str) -> StaffUser:
    officer = staff_repository.get_user_by_collar(session, collar_number)
    if officer is None or officer.role != Role.officer:
        raise InvalidRequestError(
            f"no officer with collar number {collar_number}", code="officer_not_found"
        )
    if officer.disabled_at is not None:
        raise InvalidRequestError(f"officer {collar_number}'s account is disabled")
    return officer


def list_devices(
    session: Session,
    *,
    where: DeviceFilter,
    officer_collar: str | None,
    limit: int,
    offset: int,
) -> DevicePage:
    if where.state is not None and where.state not in DeviceState.__members__:
        raise InvalidRequestError(
            f"state must be one of {', '.join(DeviceState.__members__)}", code="invalid_filter"
        )
    if where.compliance is not None and where.compliance not in COMPLIANCE_FILTERS:
        raise InvalidRequestError(
            f"compliance must be one of {', '.join(COMPLIANCE_FILTERS)}", code="invalid_filter"
        )
    if officer_collar is not None:
        officer = staff_repository.get_user_by_collar(session, officer_collar)
        if officer is None:
            return DevicePage(items=[], total=0, limit=limit, offset=offset)
        where = DeviceFilter(**{**where.__dict__, "officer_id": officer.id})
    rows, total = repository.list_devices(session, where=where, limit=limit, offset=offset)
    items = [to_public(device, officer) for device, officer in rows]
    return DevicePage(items=items, total=total, limit=limit, offset=offset)


def device_detail(session: Session, reference: str) -> DeviceDetail:
    return describe(session, find_device(session, reference))


def describe(session: Session, device: Device) -> DeviceDetail:
    """A device with its officer, latest posture and certificates."""
    officer = staff_repository.get_user(session, device.officer_id) if device.officer_id else None
    certificates = [
        CertificatePublic(
            serial_number=cert.serial_number,
            fingerprint_sha256=cert.fingerprint_sha256,
            not_before=cert.not_before,
            not_after=cert.not_after,
            revoked_at=cert.revoked_at,
            revocation_reason=cert.revocation_reason,
        )
        for cert in repository.certificates(session, device.id)
    ]
    return DeviceDetail(
        **to_public(device, officer).model_dump(),
        posture=device.posture,
        posture_received_at=device.posture_received_at,
        certificates=certificates,
    )


def posture_history(session: Session, reference: str, *, limit: int) -> Sequence[PostureEntry]:
    device = find_device(session, reference)
    return [
        PostureEntry(received_at=entry.received_at, digest=entry.digest, posture=entry.posture)
        for entry in repository.posture_history(session, device.id, limit=limit)
    ]


def assign(
    session: Session, *, reference: str, change: DeviceAssignment, actor: Actor, now: datetime
) -> DevicePublic:
    """Assign (or unassign) the officer and move the device between groups."""
    device = find_device(session, reference, for_update=True)
    if device.state != DeviceState.active:
        raise ConflictError(f"device is {device.state}; only active devices can be assigned")
    before = {"officer_id": _str(device.officer_id), "group": device.group_name}
    officer: StaffUser | None = None
    if "officer" in change.model_fields_set:
        officer = officer_by_collar(session, change.officer) if change.officer else None
        device.officer_id = officer.id if officer else None
    elif device.officer_id is not None:
        officer = staff_repository.get_user(session, device.officer_id)
    if change.group is not None and change.group != device.group_name:
        device.group_name = change.group
        device.policy_epoch = None  # its group's policy applies now: resolve at next check-in
    after = {"officer_id": _str(device.officer_id), "group": device.group_name}
    if after != before:
        session.add(device)
        record(
            session,
            actor=actor,
            action="device.assigned",
            now=now,
            target_type="device",
            target_id=device.id,
            detail={
                "before": before,
                "after": after,
                "officer_collar": officer.collar_number if officer else None,
            },
        )
    return to_public(device, officer)


def retire(session: Session, *, device: Device, reason: str, actor: Actor, now: datetime) -> Device:
    """Retire a device: it may no longer authenticate, and its certificates are revoked."""
    if device.state == DeviceState.retired:
        return device
    device.state = DeviceState.retired
    device.retired_at = now
    device.retired_reason = reason
    session.add(device)
    compliance.stand_down(session, device=device, reason="device retired", now=now)
    revoked = repository.revoke_certificates(session, device.id, now=now, reason="retired")
    record(
        session,
        actor=actor,
        action="device.retired",
        now=now,
        target_type="device",
        target_id=device.id,
        detail={"serial": device.serial, "reason": reason, "certificates_revoked": revoked},
    )
    return device


def mark_found(session: Session, *, device: Device, actor: Actor, now: datetime) -> DevicePublic:
    """Clear the device's lost report, audited; its secure side may be opened again."""
    if device.lost_at is None:
        raise ConflictError("the device is not reported lost", code="device_not_lost")
    record(
        session,
        actor=actor,
        action="device.found",
        now=now,
        target_type="device",
        target_id=device.id,
        detail={
            "serial": device.serial,
            "lost_at": device.lost_at.isoformat(),
            "lost_reported_by": device.lost_reported_by,
        },
    )
    device.lost_at = None
    device.lost_reported_by = None
    session.add(device)
    officer = staff_repository.get_user(session, device.officer_id) if device.officer_id else None
    return to_public(device, officer)


def _str(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def purge_expired_assertions(session: Session, *, now: datetime) -> int:
    return repository.purge_assertions(session, expired_before=now)
