"""Audit tables: an append-only event log with a gap-free sequence, and its head counter."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, LargeBinary, SmallInteger, Text
from sqlmodel import Field, SQLModel

from mdm_server.types import JSONDocument, UTCDateTime


class AuditEvent(SQLModel, table=True):
    """One event. `canonical` holds the exact canonical JSON; the other columns are its parts.
    Searches go through `audit_index`, so the only indexes here are the keys."""

    __tablename__ = "audit_events"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    event_id: uuid.UUID = Field(unique=True)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    actor_type: str = Field(max_length=16)
    actor_id: str | None = Field(default=None, max_length=64)
    actor_name: str | None = Field(default=None, max_length=128)
    actor_role: str | None = Field(default=None, max_length=32)
    action: str = Field(max_length=64)
    target_type: str | None = Field(default=None, max_length=32)
    target_id: str | None = Field(default=None, max_length=64)
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


class AuditTreeNode(SQLModel, table=True):
    """A perfect subtree of the RFC 9162 tree over the events: leaves
    `[idx * 2**level, (idx + 1) * 2**level)`. Level 0 holds the leaf hashes. Written in the
    same transaction as the events, never changed."""

    __tablename__ = "audit_tree_nodes"

    level: int = Field(
        primary_key=True, sa_type=SmallInteger, sa_column_kwargs={"autoincrement": False}
    )
    idx: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    hash: bytes = Field(sa_type=LargeBinary(32))


class AuditCheckpoint(SQLModel, table=True):
    """A signed checkpoint: the tree's size and root, as the C2SP note that was published."""

    __tablename__ = "audit_checkpoints"

    size: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    root: bytes = Field(sa_type=LargeBinary(32))
    note: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)


class AuditIndex(SQLModel, table=True):
    """What auditors search events by, one row per event, written with it and derived from it
    (the event's canonical bytes stay the evidence). Kept apart so the events table is only
    ever inserted into."""

    __tablename__ = "audit_index"
    __table_args__ = (
        Index("ix_audit_index_officer_seq", "officer", "seq"),
        Index("ix_audit_index_device_seq", "device_id", "seq"),
        Index("ix_audit_index_division_seq", "division", "seq"),
        Index("ix_audit_index_action_seq", "action", "seq"),
        Index("ix_audit_index_occurred_at", "occurred_at"),
        # The demand view's counts, one range scan (migration 0019).
        Index(
            "ix_audit_index_division_occurred_at",
            "division",
            "occurred_at",
            "action",
            "transaction_type",
            "purpose",
            "outcome",
        ),
    )

    seq: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    action: str = Field(max_length=64)
    officer: str | None = Field(default=None, max_length=16)  # collar number
    device_id: str | None = Field(default=None, max_length=64)
    division: str | None = Field(default=None, max_length=64)
    transaction_type: str | None = Field(default=None, max_length=32)
    purpose: str | None = Field(default=None, max_length=32)
    outcome: str | None = Field(default=None, max_length=64)  # of a transaction


class AuditSubject(SQLModel, table=True):
    """Which events touched a subject (a person, vehicle or incident), by its opaque key
    (mdm_server/audit/subjects.py): one row per key the event's detail lists."""

    __tablename__ = "audit_subjects"

    subject: str = Field(primary_key=True, max_length=32)
    seq: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )


class SiemCursor(SQLModel, table=True):
    """How far the SIEM feed has reached for one collector: every event up to `last_seq` was
    delivered to it. Moved only after the collector took a batch, so a collector that was
    away receives everything after it once it returns."""

    __tablename__ = "siem_cursors"

    target: str = Field(primary_key=True, max_length=255)  # the collector's URL, no credentials
    last_seq: int = Field(default=0, sa_type=BigInteger)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
