"""The secure side's tables: container keys, officers' PINs, appropriate-use acknowledgements
and secure sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from mdm_server.types import UTCDateTime


class ContainerKey(SQLModel, table=True):
    """A device's container key, wrapped under the server master key. Destroying it clears
    `wrapped` (crypto-shred): the row stays as the record of when, why and by whom. At most one
    live key per device."""

    __tablename__ = "container_keys"
    __table_args__ = (
        Index(
            "uq_container_keys_live",
            "device_id",
            unique=True,
            sqlite_where=text("destroyed_at IS NULL"),
            postgresql_where=text("destroyed_at IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    device_id: uuid.UUID = Field(foreign_key="devices.id", index=True)
    wrapped: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: datetime = Field(sa_type=UTCDateTime)
    destroyed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    destroyed_reason: str | None = Field(default=None, max_length=200)
    destroyed_by: str | None = Field(default=None, max_length=128)


class OfficerPin(SQLModel, table=True):
    """An officer's secure-side PIN (Argon2id), its wrong-attempt count and lockout."""

    __tablename__ = "officer_pins"

    user_id: uuid.UUID = Field(foreign_key="staff_users.id", primary_key=True)
    pin_hash: str = Field(max_length=256)
    must_change: bool = True
    failed_attempts: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    set_at: datetime = Field(sa_type=UTCDateTime)


class PolicyAcknowledgement(SQLModel, table=True):
    """An officer's acknowledgement of one version of the appropriate-use policy text, kept as
    evidence: the version, a digest of the exact text shown, the device and the time."""

    __tablename__ = "policy_acknowledgements"
    __table_args__ = (UniqueConstraint("officer_id", "text_version"),)

    id: int | None = Field(default=None, primary_key=True)
    officer_id: uuid.UUID = Field(foreign_key="staff_users.id", index=True)
    text_version: str = Field(max_length=32)
    text_sha256: str = Field(max_length=64)
    device_id: uuid.UUID | None = Field(default=None, foreign_key="devices.id")
    acknowledged_at: datetime = Field(sa_type=UTCDateTime)


class SecureSession(SQLModel, table=True):
    """An officer's time on a device's secure side, from entry to leave (or lock, or its end).
    The bearer token is stored only as its SHA-256 digest."""

    __tablename__ = "secure_sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    device_id: uuid.UUID = Field(foreign_key="devices.id", index=True)
    officer_id: uuid.UUID = Field(foreign_key="staff_users.id", index=True)
    token_digest: str = Field(max_length=64, unique=True)
    container_key_id: uuid.UUID = Field(foreign_key="container_keys.id")
    started_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    last_activity_at: datetime = Field(sa_type=UTCDateTime)
    inactivity_s: int
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    end_reason: str | None = Field(default=None, max_length=32)
