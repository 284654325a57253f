"""Console sign-ins: a browser session per login, held by an HttpOnly cookie."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from mdm_server.types import UTCDateTime


class ConsoleSession(SQLModel, table=True):
    """One browser's sign-in to the console. The cookie carries a random secret; only its
    SHA-256 digest is stored. A session ends at logout, after `console_session_idle_s` without
    a request, at `expires_at` (one shift at most), or when the account's sessions are revoked
    (a password change, disabling the account)."""

    __tablename__ = "console_sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="staff_users.id", index=True)
    token_digest: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When a second factor was last used in this session (at sign-in): for step-up.
    factor_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
