"""API shapes for commands: sending, approving, cancelling, reading; and the device side's
delivery and receipts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from mdm_server.validation import CollarNumber, GroupName, Moment

Reason = Annotated[str, StringConstraints(min_length=1, max_length=500)]
DeviceReference = Annotated[str, StringConstraints(min_length=4, max_length=64)]
MAX_DEVICES_PER_LIST = 1000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceSelector(Strict):
    """Devices by their attributes; every given field must match. Active devices only."""

    model: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    android_version: Annotated[str, StringConstraints(min_length=1, max_length=16)] | None = None
    group: GroupName | None = None
    officer: CollarNumber | None = Field(default=None, description="Collar number.")
    compliance: str | None = Field(
        default=None, description="compliant, in_grace, non_compliant, incompatible, unknown"
    )
    last_seen_before: Moment | None = None


class CommandTarget(Strict):
    """Exactly one of: a device, a list of devices, a group, or a filter."""

    device: DeviceReference | None = Field(default=None, description="Id, serial or id prefix.")
    devices: Annotated[list[DeviceReference], Field(min_length=1)] | None = Field(
        default=None, max_length=MAX_DEVICES_PER_LIST
    )
    group: GroupName | None = None
    filter: DeviceSelector | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CommandTarget:
        given = [name for name in ("device", "devices", "group", "filter") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("give exactly one of device, devices, group or filter")
        return self


class CommandCreate(Strict):
    type: str = Field(description="lock_device, wipe_secure_side, ... (GET /api/v1/commands/types)")
    target: CommandTarget
    params: dict[str, Any] = Field(default_factory=dict)
    reason: Reason | None = Field(
        default=None, description="Why; required for wipes, retire, reset_passcode and locate."
    )


class CommandPublic(BaseModel):
    id: uuid.UUID
    batch_id: uuid.UUID
    device_id: uuid.UUID
    device_serial: str | None = None
    device_seq: int
    type: str
    params: dict[str, Any]
    reason: str | None
    state: str
    requested_by: str
    created_at: datetime
    not_before: datetime
    expires_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    delivered_at: datetime | None
    deliveries: int
    completed_at: datetime | None
    executed_at: datetime | None
    evidence: dict[str, Any] | None
    error: str | None
    receipt_verified: bool = Field(
        description="A receipt signed by the device's key was verified before it was recorded."
    )
    cancelled_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None


class CommandDetail(CommandPublic):
    receipt: str | None = Field(description="The device-signed receipt (JWS), as received.")


class CommandBatch(BaseModel):
    batch_id: uuid.UUID
    commands: list[CommandPublic]
    reused: list[uuid.UUID] = Field(
        default_factory=list,
        description="Commands already open for the same device, type and parameters, returned "
        "instead of queuing a second copy.",
    )


class CommandPage(BaseModel):
    items: list[CommandPublic]
    total: int
    limit: int
    offset: int


class CommandCancel(Strict):
    reason: Reason | None = None


class CommandKindPublic(BaseModel):
    name: str
    summary: str
    ttl_s: int | None = Field(description="Time to live in seconds; null: never expires.")
    two_person: bool
    needs_reason: bool
    params: dict[str, Any] = Field(description="JSON Schema of the parameters.")


class WakeupChannel(BaseModel):
    """Where a device hears that commands wait, instead of holding a long poll."""

    url: str = Field(description="The NATS broker, `nats://host:port`.")
    subject: str = Field(description="This device's subject: an empty message means fetch.")


class CommandDelivery(BaseModel):
    """Signed envelopes for the device, in the order it must run them."""

    commands: list[str]
    wakeup: WakeupChannel | None = Field(
        default=None,
        description="Present when the server publishes wake-ups on a broker: subscribe there "
        "and fetch (`wait=0`) on each message, rather than holding a poll.",
    )


class ReceiptIn(Strict):
    receipt: Annotated[str, StringConstraints(min_length=1, max_length=32_000)]


class ReceiptRecorded(BaseModel):
    command_id: uuid.UUID
    state: str
    duplicate: bool


class LostDeviceReport(Strict):
    device: DeviceReference | None = Field(
        default=None, description="Which of your devices; needed only if you hold several."
    )
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class LostDeviceNote(Strict):
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class LostDeviceReported(BaseModel):
    device_id: uuid.UUID
    container_key_destroyed: bool
    commands: list[CommandPublic]
    state: Literal["reported"] = "reported"
