"""Queries over policies, versions, assignments, resolved policies and compliance."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy
from sqlalchemy import bindparam, func, or_, update
from sqlmodel import Session, col, select

from mdm_server.auth.models import StaffUser
from mdm_server.db import insert_ignoring_conflicts
from mdm_server.devices.models import Device, DeviceState
from mdm_server.policies.models import (
    ActionState,
    ComplianceChange,
    DeviceCompliance,
    EnforcementAction,
    Policy,
    PolicyAssignment,
    PolicyEpoch,
    PolicyVersion,
    ResolvedPolicyRecord,
    Scope,
)


def policy_by_name(session: Session, name: str, *, for_update: bool = False) -> Policy | None:
    query = select(Policy).where(col(Policy.name) == name)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def policies(session: Session) -> Sequence[Policy]:
    return session.exec(select(Policy).order_by(col(Policy.name))).all()


def version(session: Session, policy_id: uuid.UUID, number: int) -> PolicyVersion | None:
    return session.get(PolicyVersion, (policy_id, number))


def versions(session: Session, policy_id: uuid.UUID) -> Sequence[tuple[PolicyVersion, str | None]]:
    """A policy's versions, newest first, with the username of whoever made each."""
    query = (
        select(PolicyVersion, StaffUser.username)
        .outerjoin(StaffUser, col(StaffUser.id) == col(PolicyVersion.created_by))
        .where(col(PolicyVersion.policy_id) == policy_id)
        .order_by(col(PolicyVersion.version).desc())
    )
    return session.exec(query).all()


def bump_epoch(session: Session) -> int:
    """Raise the policy epoch: every device resolves its policy again at its next check-in."""
    result = session.execute(
        update(PolicyEpoch)
        .where(col(PolicyEpoch.id) == 1)
        .values(epoch=col(PolicyEpoch.epoch) + 1)
        .returning(col(PolicyEpoch.epoch))
    )
    return int(result.scalar_one())


def current_epoch(session: Session) -> int:
    return int(session.exec(select(PolicyEpoch.epoch).where(col(PolicyEpoch.id) == 1)).one())


def assignment(
    session: Session, scope: Scope, target: str, *, for_update: bool = False
) -> PolicyAssignment | None:
    query = select(PolicyAssignment).where(
        col(PolicyAssignment.scope) == scope, col(PolicyAssignment.target) == target
    )
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def assignments(
    session: Session, *, policy_id: uuid.UUID | None = None
) -> Sequence[tuple[PolicyAssignment, Policy, str | None]]:
    query = (
        select(PolicyAssignment, Policy, StaffUser.username)
        .join(Policy, col(Policy.id) == col(PolicyAssignment.policy_id))
        .outerjoin(StaffUser, col(StaffUser.id) == col(PolicyAssignment.assigned_by))
        .order_by(col(PolicyAssignment.scope), col(PolicyAssignment.target))
    )
    if policy_id is not None:
        query = query.where(col(PolicyAssignment.policy_id) == policy_id)
    return session.exec(query).all()


@dataclass(frozen=True)
class LayerRow:
    scope: str
    target: str
    policy_id: uuid.UUID
    name: str
    version: int


_assignments = PolicyAssignment.__table__  # type: ignore[attr-defined]
_policies = Policy.__table__  # type: ignore[attr-defined]
_LAYERS = (
    sqlalchemy.select(
        _assignments.c.scope,
        _assignments.c.target,
        _policies.c.id,
        _policies.c.name,
        _policies.c.current_version,
    )
    .select_from(_assignments.join(_policies, _policies.c.id == _assignments.c.policy_id))
    .where(
        or_(
            _assignments.c.scope == Scope.fleet,
            (_assignments.c.scope == Scope.group) & (_assignments.c.target == bindparam("group")),
            (_assignments.c.scope == Scope.device) & (_assignments.c.target == bindparam("device")),
        )
    )
)


def layers_for(session: Session, *, group: str, device_id: uuid.UUID) -> list[LayerRow]:
    """The policies that apply to a device (fleet, its group, itself), in any order."""
    rows = session.execute(_LAYERS, {"group": group, "device": str(device_id)}).all()
    return [LayerRow(*row) for row in rows]


def version_document(session: Session, policy_id: uuid.UUID, number: int) -> dict[str, Any]:
    stored = session.get(PolicyVersion, (policy_id, number))
    assert stored is not None, "a policy's current version always exists"
    return stored.document


_resolved = ResolvedPolicyRecord.__table__  # type: ignore[attr-defined]
_ADD_RESOLVED = insert_ignoring_conflicts(_resolved, index_elements=["digest"])
_RESOLVED_ID = sqlalchemy.select(_resolved.c.id).where(_resolved.c.digest == bindparam("digest"))


def resolved_id(session: Session, *, digest: str, document: dict[str, Any], now: datetime) -> int:
    """The id of the stored resolved policy with this digest, storing it first if new (two
    workers may race to store the same one; the digest is unique)."""
    found = session.execute(_RESOLVED_ID, {"digest": digest}).scalar()
    if found is None:
        statement = _ADD_RESOLVED[session.get_bind().dialect.name]
        session.execute(statement, {"digest": digest, "document": document, "created_at": now})
        found = session.execute(_RESOLVED_ID, {"digest": digest}).scalar_one()
    return int(found)


def find_resolved_id(session: Session, digest: str) -> int | None:
    found = session.execute(_RESOLVED_ID, {"digest": digest}).scalar()
    return int(found) if found is not None else None


def compliance(
    session: Session, device_id: uuid.UUID, *, for_update: bool = False
) -> DeviceCompliance | None:
    query = select(DeviceCompliance).where(col(DeviceCompliance.device_id) == device_id)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def open_actions(session: Session, device_id: uuid.UUID) -> Sequence[EnforcementAction]:
    query = select(EnforcementAction).where(
        col(EnforcementAction.device_id) == device_id,
        col(EnforcementAction.state) == ActionState.due,
    )
    return session.exec(query).all()


_devices = Device.__table__  # type: ignore[attr-defined]
_SET_DEVICE_POLICY = (
    _devices.update()
    .where(_devices.c.id == bindparam("device_id"))
    .values(
        policy_version=bindparam("policy_version"),
        policy_epoch=bindparam("policy_epoch"),
        compliance_status=bindparam("status"),
        compliance_review_at=bindparam("review_at"),
    )
)


def set_device_policy(
    session: Session,
    device_id: uuid.UUID,
    *,
    policy_version: int,
    epoch: int,
    status: str,
    review_at: datetime | None,
) -> None:
    params = {
        "device_id": device_id,
        "policy_version": policy_version,
        "policy_epoch": epoch,
        "status": status,
        "review_at": review_at,
    }
    session.execute(_SET_DEVICE_POLICY, params)


def compliance_history(
    session: Session, device_id: uuid.UUID, *, limit: int
) -> Sequence[ComplianceChange]:
    query = (
        select(ComplianceChange)
        .where(col(ComplianceChange.device_id) == device_id)
        .order_by(col(ComplianceChange.id).desc())
        .limit(limit)
    )
    return session.exec(query).all()


@dataclass(frozen=True)
class SweepRow:
    id: uuid.UUID
    group_name: str
    posture: dict[str, Any] | None


def devices_to_sweep(
    session: Session, *, now: datetime, epoch: int, after: uuid.UUID | None, limit: int
) -> list[SweepRow]:
    """Active devices that have checked in and whose compliance may have changed: time has
    reached their review, or the policy epoch has moved on since they were evaluated. In id
    order, a page at a time (keyset pagination)."""
    query = (
        sqlalchemy.select(_devices.c.id, _devices.c.group_name, _devices.c.posture)
        .where(
            _devices.c.state == DeviceState.active,
            _devices.c.posture_received_at.is_not(None),
            or_(
                _devices.c.compliance_review_at <= now,
                _devices.c.policy_epoch.is_(None),
                _devices.c.policy_epoch != epoch,
            ),
        )
        .order_by(_devices.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(_devices.c.id > after)
    return [SweepRow(*row) for row in session.execute(query).all()]


def status_counts(session: Session) -> Sequence[tuple[str, str | None, int]]:
    """(group, compliance status, devices) over active devices."""
    query = (
        select(Device.group_name, Device.compliance_status, func.count())
        .where(col(Device.state) == DeviceState.active)
        .group_by(col(Device.group_name), col(Device.compliance_status))
    )
    return session.exec(query).all()


def findings_of_active_devices(session: Session) -> Sequence[Sequence[Any]]:
    query = (
        select(DeviceCompliance.findings)
        .join(Device, col(Device.id) == col(DeviceCompliance.device_id))
        .where(
            col(Device.state) == DeviceState.active,
            col(DeviceCompliance.status) != "compliant",
        )
    )
    return session.exec(query).all()


def actions(
    session: Session, *, state: str | None, limit: int
) -> Sequence[tuple[EnforcementAction, str]]:
    query = select(EnforcementAction, Device.serial).join(
        Device, col(Device.id) == col(EnforcementAction.device_id)
    )
    if state is not None:
        query = query.where(col(EnforcementAction.state) == state)
    query = query.order_by(col(EnforcementAction.due_at).desc()).limit(limit)
    return session.exec(query).all()


def open_actions_out_of_service(
    session: Session, *, limit: int
) -> Sequence[tuple[EnforcementAction, str]]:
    """Open enforcement actions of devices no longer active, with the device's state."""
    query = (
        select(EnforcementAction, Device.state)
        .join(Device, col(Device.id) == col(EnforcementAction.device_id))
        .where(col(EnforcementAction.state) == ActionState.due)
        .where(col(Device.state) != DeviceState.active)
        .order_by(col(EnforcementAction.id))
        .limit(limit)
    )
    return session.exec(query).all()


def actions_due_counts(session: Session) -> Sequence[tuple[str, int]]:
    """(action, how many are due) over active devices."""
    query = (
        select(EnforcementAction.action, func.count())
        .join(Device, col(Device.id) == col(EnforcementAction.device_id))
        .where(col(EnforcementAction.state) == ActionState.due)
        .where(col(Device.state) == DeviceState.active)
        .group_by(col(EnforcementAction.action))
    )
    return session.exec(query).all()
