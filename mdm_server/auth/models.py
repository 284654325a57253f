"""Staff accounts and their refresh tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from mdm_server.types import UTCDateTime


class Role(StrEnum):
    """The principals of DESIGN.md's separation of duties."""

    it_admin = "it_admin"
    auditor = "auditor"
    supervisor = "supervisor"
    officer = "officer"
    device = "device"


STAFF_ROLES: tuple[Role, ...] = (Role.it_admin, Role.auditor, Role.supervisor, Role.officer)


class StaffUser(SQLModel, table=True):
    """A person who signs in: IT staff, auditors, supervisors and officers. One role each, so
    that separation of duties cannot be undone by stacking roles on one account."""

    __tablename__ = "staff_users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(default="", max_length=128)
    role: str = Field(max_length=32, index=True)
    collar_number: str | None = Field(default=None, max_length=16, unique=True)
    division: str | None = Field(default=None, max_length=64, index=True)
    password_hash: str | None = Field(default=None, max_length=256)
    must_change_password: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sessions_valid_after: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RefreshToken(SQLModel, table=True):
    """One refresh token of a login's rotation family. A token is spent when rotated; presenting
    a spent token again means it was stolen, and revokes the whole family (RFC 9700 §4.14.2)."""

    __tablename__ = "refresh_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="staff_users.id", index=True)
    family_id: uuid.UUID = Field(index=True)
    token_digest: str = Field(max_length=64, unique=True)
    issued_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
