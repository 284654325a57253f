"""Commands and their lifecycle."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from mdm_server.types import JSONDocument, UTCDateTime


class CommandState(StrEnum):
    pending_approval = "pending_approval"  # waits for a second it_admin
    queued = "queued"  # waits for the device
    delivered = "delivered"  # the device has been sent a signed envelope
    succeeded = "succeeded"  # the device's signed receipt says so
    failed = "failed"  # the device's signed receipt says why
    cancelled = "cancelled"  # withdrawn before it could run
    expired = "expired"  # its time to live ran out before a receipt came


OPEN_STATES = (CommandState.pending_approval, CommandState.queued, CommandState.delivered)
DONE_STATES = (CommandState.succeeded, CommandState.failed)


class Command(SQLModel, table=True):
    """One command to one device. `device_seq` orders a device's commands: the device receives
    and runs them in that order."""

    __tablename__ = "commands"
    __table_args__ = (
        UniqueConstraint("device_id", "device_seq"),
        UniqueConstraint("requested_by_id", "idempotency_key"),
        Index("ix_commands_device_open", "device_id", "state"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    device_id: uuid.UUID = Field(foreign_key="devices.id")
    device_seq: int
    batch_id: uuid.UUID = Field(index=True)
    type: str = Field(max_length=32)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    reason: str | None = Field(default=None, max_length=500)
    state: str = Field(default=CommandState.queued, max_length=16, index=True)

    requested_by: str = Field(max_length=128)  # a username, or `scheduler`
    requested_by_id: uuid.UUID | None = None  # the staff user, or none for the scheduler
    idempotency_key: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(sa_type=UTCDateTime)
    not_before: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)

    approved_by: str | None = Field(default=None, max_length=128)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deliveries: int = 0
    envelope_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    envelope_digests: list[str] = Field(default_factory=list, sa_type=JSONDocument)

    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    executed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    receipt: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    evidence: dict[str, Any] | None = Field(default=None, sa_type=JSONDocument)
    error: str | None = Field(default=None, max_length=500)

    cancelled_by: str | None = Field(default=None, max_length=128)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancel_reason: str | None = Field(default=None, max_length=500)
