"""Policies and their immutable versions, assignments, the resolved policies served to devices,
and each device's compliance with its history and the enforcement actions due."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from mdm_server.types import JSONDocument, UTCDateTime


class Scope(StrEnum):
    fleet = "fleet"
    group = "group"
    device = "device"


class Policy(SQLModel, table=True):
    """A named policy. Its content lives in versions; `current_version` is the one in force."""

    __tablename__ = "policies"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    current_version: int
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class PolicyVersion(SQLModel, table=True):
    """One version of a policy, never changed once written."""

    __tablename__ = "policy_versions"

    policy_id: uuid.UUID = Field(foreign_key="policies.id", primary_key=True)
    version: int = Field(primary_key=True)
    document: dict[str, Any] = Field(sa_type=JSONDocument)
    digest: str = Field(max_length=64)
    source: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    comment: str = Field(default="", max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="staff_users.id")


class PolicyAssignment(SQLModel, table=True):
    """A policy applied to the fleet, a group or one device. One per scope and target; the
    device's layers are fleet, then its group, then the device itself."""

    __tablename__ = "policy_assignments"
    __table_args__ = (UniqueConstraint("scope", "target"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    scope: str = Field(max_length=8)
    target: str = Field(max_length=64)  # "" for the fleet, a group name, or a device id
    policy_id: uuid.UUID = Field(foreign_key="policies.id", index=True)
    assigned_at: datetime = Field(sa_type=UTCDateTime)
    assigned_by: uuid.UUID | None = Field(default=None, foreign_key="staff_users.id")


class PolicyEpoch(SQLModel, table=True):
    """A counter raised by every change that can alter a device's resolved policy (a new
    version, an assignment), so a check-in can tell cheaply whether to resolve again."""

    __tablename__ = "policy_epoch"

    id: int = Field(primary_key=True)
    epoch: int


class ResolvedPolicyRecord(SQLModel, table=True):
    """A resolved policy as served to devices, stored once per distinct content. Its id is the
    policy version a device is told to hold."""

    __tablename__ = "resolved_policies"

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(max_length=64, unique=True)
    document: dict[str, Any] = Field(sa_type=JSONDocument)
    created_at: datetime = Field(sa_type=UTCDateTime)


class ComplianceStatus(StrEnum):
    compliant = "compliant"
    incompatible = "incompatible"
    in_grace = "in_grace"
    non_compliant = "non_compliant"
    unknown = "unknown"


class DeviceCompliance(SQLModel, table=True):
    """A device's latest evaluation result: findings, actions due, and when each failing rule
    was first seen (so grace runs from then). Written only when the result changes."""

    __tablename__ = "device_compliance"

    device_id: uuid.UUID = Field(foreign_key="devices.id", primary_key=True)
    resolved_policy_id: int | None = Field(default=None, foreign_key="resolved_policies.id")
    layers: list[str] = Field(sa_type=JSONDocument)
    status: str = Field(max_length=16, index=True)
    status_since: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)  # when this result was stored
    findings: list[dict[str, Any]] = Field(sa_type=JSONDocument)
    actions: list[dict[str, Any]] = Field(sa_type=JSONDocument)
    first_seen: dict[str, str] = Field(sa_type=JSONDocument)


class ComplianceChange(SQLModel, table=True):
    """A change in a device's compliance: its overall status, a rule's status, or the policy."""

    __tablename__ = "compliance_changes"

    id: int | None = Field(default=None, primary_key=True)
    device_id: uuid.UUID = Field(foreign_key="devices.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    status_before: str | None = Field(default=None, max_length=16)
    status_after: str = Field(max_length=16)
    resolved_policy_id: int | None = Field(default=None, foreign_key="resolved_policies.id")
    changes: dict[str, Any] = Field(sa_type=JSONDocument)
    cause: str = Field(max_length=16)  # checkin | sweep


class ActionState(StrEnum):
    due = "due"  # waiting to be carried out
    superseded = "superseded"  # no longer due: the device recovered, or left service


class EnforcementAction(SQLModel, table=True):
    """An enforcement step the ladder made due, for the commands service to carry out. At most
    one open (`due`) row per device and action."""

    __tablename__ = "enforcement_actions"
    __table_args__ = (
        Index(
            "uq_enforcement_actions_open",
            "device_id",
            "action",
            unique=True,
            sqlite_where=text("state = 'due'"),
            postgresql_where=text("state = 'due'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    device_id: uuid.UUID = Field(foreign_key="devices.id", index=True)
    action: str = Field(max_length=32)
    severity: str = Field(max_length=16)
    rules: list[str] = Field(sa_type=JSONDocument)
    due_at: datetime = Field(sa_type=UTCDateTime)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    state: str = Field(default=ActionState.due, max_length=16, index=True)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the scheduler carried it out, and the command it sent (none for `notify`). The row
    # stays open, so the action is not taken twice, until the device recovers.
    carried_out_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    command_id: uuid.UUID | None = None
