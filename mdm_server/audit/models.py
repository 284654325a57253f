"""Audit tables: an append-only event log with a gap-free sequence, and its head counter."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from mdm_server.types import JSONDocument, UTCDateTime


class AuditEvent(SQLModel, table=True):
    """One event. `canonical` holds the exact canonical JSON; the other columns index it."""

    __tablename__ = "audit_events"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    event_id: uuid.UUID = Field(unique=True)
    occurred_at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor_type: str = Field(max_length=16)
    actor_id: str | None = Field(default=None, max_length=64, index=True)
    actor_name: str | None = Field(default=None, max_length=128)
    actor_role: str | None = Field(default=None, max_length=32)
    action: str = Field(max_length=64, index=True)
    target_type: str | None = Field(default=None, max_length=32)
    target_id: str | None = Field(default=None, max_length=64, index=True)
    request_id: str | None = Field(default=None, max_length=64)
    source_ip: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    canonical: str = Field(sa_column=Column(Text, nullable=False))


class AuditHead(SQLModel, table=True):
    """A single row holding the last sequence number used. Updating it takes a row lock held
    to commit, which is what makes the sequence gap-free across concurrent writers."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_seq: int = 0
