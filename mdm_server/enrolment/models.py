"""Enrolment tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from mdm_server.types import UTCDateTime


class EnrolmentToken(SQLModel, table=True):
    """A token IT hands to devices (usually as a QR code). Only a digest of its secret is kept."""

    __tablename__ = "enrolment_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    secret_digest: str = Field(max_length=64, unique=True)
    group_name: str = Field(max_length=64)
    officer_id: uuid.UUID | None = Field(default=None, foreign_key="staff_users.id")
    uses_allowed: int
    uses_count: int = 0
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    allow_reenrolment: bool = False
    label: str = Field(default="", max_length=200)
    created_by: uuid.UUID = Field(foreign_key="staff_users.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the scheduler recorded (and audited) that the token ran out unrevoked.
    expired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
