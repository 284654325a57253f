"""Devices, their certificates, posture history and the assertion ids already seen."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from mdm_server.crypto.ca import IssuedCertificate
from mdm_server.types import JSONDocument, UTCDateTime


class DeviceState(StrEnum):
    active = "active"
    retired = "retired"
    wiped = "wiped"


# The compliance a retired or wiped device reads as: out of service, nothing is evaluated or
# enforced against it, whatever its last evaluation said (kept in its compliance history).
COMPLIANCE_NOT_APPLICABLE = "not_applicable"


DEVICES_FILLFACTOR = 85


class Device(SQLModel, table=True):
    """One enrolled handset or tablet. A serial may appear many times in history, but only one
    record per serial is ever active."""

    __tablename__ = "devices"
    __table_args__ = (
        Index(
            "uq_devices_active_serial",
            "serial",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        # Room on each page for the check-in's new row version beside the old (a HOT update).
        {"postgresql_with": {"fillfactor": DEVICES_FILLFACTOR}},
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    serial: str = Field(max_length=64, index=True)
    imei: str | None = Field(default=None, max_length=16)
    manufacturer: str = Field(max_length=64)
    model: str = Field(max_length=64, index=True)
    android_version: str = Field(max_length=16, index=True)
    sdk: int
    security_patch: date | None = None
    knox_version: str | None = Field(default=None, max_length=32)
    warranty_bit: int = 0
    state: str = Field(default=DeviceState.active, max_length=16, index=True)
    group_name: str = Field(max_length=64, index=True)
    officer_id: uuid.UUID | None = Field(default=None, foreign_key="staff_users.id", index=True)
    enrolment_token_id: uuid.UUID | None = Field(default=None, foreign_key="enrolment_tokens.id")
    enrolled_at: datetime = Field(sa_type=UTCDateTime)
    # Not indexed: it changes on every check-in, and an indexed column changed makes
    # PostgreSQL write a new entry in every index of the table (no HOT update). What reads it
    # (the fleet summary, stale-device counts, offline-wipe enforcement) scans the fleet anyway.
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    posture: dict[str, Any] | None = Field(default=None, sa_type=JSONDocument)
    posture_digest: str | None = Field(default=None, max_length=64)
    posture_received_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    retired_reason: str | None = Field(default=None, max_length=500)
    # Reported lost by its officer: the secure side stays shut until IT marks it found.
    lost_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lost_reported_by: str | None = Field(default=None, max_length=128)
    # When the server first held two different events the device key signed under one sequence
    # number: a copy of the device's state is in use (docs/device-protocol.md §7.1). The secure
    # side stays shut; the remedy is re-enrolment, which gives the real handset a new key.
    cloned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The policy the device was last told to hold (a resolved policy's id), the policy epoch it
    # was resolved at, its compliance then, and when time alone could change that compliance
    # (a grace period ending, say): a check-in with nothing new before then reads these alone.
    policy_version: int | None = None
    policy_epoch: int | None = None
    compliance_status: str | None = Field(default=None, max_length=16, index=True)
    compliance_review_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class DeviceCertificate(SQLModel, table=True):
    """A certificate the device CA issued. Revocation is recorded here, never by deletion."""

    __tablename__ = "device_certificates"

    serial_number: str = Field(primary_key=True, max_length=64)
    device_id: uuid.UUID = Field(foreign_key="devices.id", index=True)
    certificate_pem: str = Field(sa_column=Column(Text, nullable=False))
    fingerprint_sha256: str = Field(max_length=64)
    not_before: datetime = Field(sa_type=UTCDateTime)
    not_after: datetime = Field(sa_type=UTCDateTime)
    issued_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revocation_reason: str | None = Field(default=None, max_length=200)

    @classmethod
    def issued(
        cls, device_id: uuid.UUID, issued: IssuedCertificate, *, now: datetime
    ) -> DeviceCertificate:
        """The record of a certificate the CA has just issued to the device."""
        return cls(
            serial_number=issued.serial_number,
            device_id=device_id,
            certificate_pem=issued.pem,
            fingerprint_sha256=issued.fingerprint_sha256,
            not_before=issued.not_before,
            not_after=issued.not_after,
            issued_at=now,
        )


class PostureRecord(SQLModel, table=True):
    """A posture report that differed from the one before it; bounded per device."""

    __tablename__ = "device_postures"

    id: int | None = Field(default=None, primary_key=True)
    device_id: uuid.UUID = Field(foreign_key="devices.id", index=True)
    received_at: datetime = Field(sa_type=UTCDateTime)
    digest: str = Field(max_length=64)
    posture: dict[str, Any] = Field(sa_type=JSONDocument)


class DeviceAssertion(SQLModel, table=True):
    """An assertion id (`jti`) already used by a device, kept until the assertion expires."""

    __tablename__ = "device_assertions"

    device_id: uuid.UUID = Field(foreign_key="devices.id", primary_key=True)
    jti: str = Field(max_length=128, primary_key=True)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class DeviceEvent(SQLModel, table=True):
    """A usage event from a device's outbox (secure side entered, left or refused; a
    transaction; a policy applied), kept once: idempotent by event id, ordered by the device's
    own sequence number."""

    __tablename__ = "device_events"
    __table_args__ = (
        UniqueConstraint("device_id", "event_id"),
        UniqueConstraint("device_id", "seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    device_id: uuid.UUID = Field(foreign_key="devices.id")
    seq: int
    event_id: uuid.UUID
    type: str = Field(max_length=64)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(sa_type=UTCDateTime)
    detail: dict[str, Any] = Field(sa_type=JSONDocument)


class DeviceEventHead(SQLModel, table=True):
    """How far a device's event sequence has arrived: every number up to `contiguous_seq`
    without a gap, and the highest seen."""

    __tablename__ = "device_event_heads"

    device_id: uuid.UUID = Field(foreign_key="devices.id", primary_key=True)
    contiguous_seq: int = 0
    highest_seq: int = 0
