"""API shapes for policies, assignments, explanations and the compliance summary."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_SOURCE_CHARS = 200_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicySubmission(Strict):
    """A policy document to store as a new version. `source` is the text it was written in
    (YAML or JSON, comments and all), kept so the version can be shown as its author wrote it."""

    document: dict[str, Any]
    source: Annotated[str, StringConstraints(max_length=MAX_SOURCE_CHARS)] | None = None
    comment: Annotated[str, StringConstraints(max_length=500)] = ""


class ValidationReport(BaseModel):
    valid: bool
    errors: list[str] = Field(default_factory=list)
    name: str | None = None
    digest: str | None = None
    settings: int = 0


class PolicyVersionPublic(BaseModel):
    name: str
    version: int
    current: bool
    digest: str
    comment: str
    created_at: datetime
    created_by: str | None
    document: dict[str, Any] | None = None
    source: str | None = None


class PolicyStored(BaseModel):
    """The answer to storing a document: which version now holds it, and whether it is new
    (an identical document to the current version adds no version)."""

    name: str
    version: int
    created: bool
    digest: str


class AssignmentPublic(BaseModel):
    scope: Literal["fleet", "group", "device"]
    target: str | None
    policy: str
    version: int
    assigned_at: datetime
    assigned_by: str | None


class PolicySummary(BaseModel):
    name: str
    current_version: int
    updated_at: datetime
    assignments: list[str]


class AssignmentRequest(Strict):
    policy: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class LayerPublic(BaseModel):
    layer: str
    policy: str
    version: int


class SettingPublic(BaseModel):
    path: str
    value: Any
    layers: list[str]
    how: str


class FindingPublic(BaseModel):
    rule: str
    severity: str
    status: str
    expected: Any
    actual: Any
    first_seen: datetime | None = None
    grace_deadline: datetime | None = None
    compensating_control: str | None = None
    message: str = ""


class ActionPublic(BaseModel):
    action: str
    severity: str
    rules: list[str]
    due_at: datetime


class Explanation(BaseModel):
    """Why a device must do what it must: its layers, each setting with the layer it came
    from, and its findings now (the policy in force against its last posture)."""

    device_id: uuid.UUID
    serial: str
    group: str
    layers: list[LayerPublic]
    policy_version: int | None
    device_policy_version: int | None = Field(
        description="The policy version the device last said it applied."
    )
    settings: list[SettingPublic]
    status: str = Field(
        description="Compliance now; not_applicable for a retired or wiped device, which has "
        "no actions due either."
    )
    findings: list[FindingPublic]
    actions: list[ActionPublic]
    evaluated_at: datetime
    posture_received_at: datetime | None
    stored_status: str | None = Field(description="The status recorded at the last evaluation.")
    stored_at: datetime | None = Field(description="When that status was stored.")


class ComplianceChangePublic(BaseModel):
    at: datetime
    status_before: str | None
    status_after: str
    policy_version: int | None
    changes: dict[str, Any]
    cause: str


class EnforcementActionPublic(BaseModel):
    id: uuid.UUID
    device_id: uuid.UUID
    serial: str
    action: str
    severity: str
    rules: list[str]
    due_at: datetime
    recorded_at: datetime
    state: str


class RuleCount(BaseModel):
    rule: str
    devices: int


class GroupCompliance(BaseModel):
    group: str
    devices: int
    by_status: dict[str, int]


class ComplianceSummary(BaseModel):
    devices: int
    by_status: dict[str, int]
    by_group: list[GroupCompliance]
    failing_rules: list[RuleCount]
    incompatible_rules: list[RuleCount]
    actions_due: dict[str, int]


class DevicePolicy(BaseModel):
    """What a device is told to enforce: the settings it needs, without the appropriate-use
    thresholds or the enforcement ladder, which the server applies."""

    version: int
    digest: str
    policy: dict[str, Any]
