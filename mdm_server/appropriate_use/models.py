"""The directory the appropriate-use rules read, the flags they raise, the reviewers' notes on
them, and the justifications asked of officers."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from mdm_server.types import JSONDocument, UTCDateTime


class EntryKind(StrEnum):
    own = "own"  # the officer's own record (a self-search)
    association = "association"  # declared in vetting
    protected = "protected"  # the protected or high-profile list (no officer)


class DirectoryEntry(SQLModel, table=True):
    """A subject key the rules know something about; never a name."""

    __tablename__ = "appropriate_use_directory"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    officer: str | None = Field(default=None, max_length=16, index=True)  # collar number
    subject: str = Field(max_length=32, index=True)
    # The key standing for the whole entry (a person's name key), so that a search matching
    # two of one person's keys raises one flag, not two.
    identity: str = Field(max_length=32)


class RosterShift(SQLModel, table=True):
    """One rostered shift of an officer."""

    __tablename__ = "appropriate_use_shifts"

    id: int | None = Field(default=None, primary_key=True)
    officer: str = Field(max_length=16, index=True)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)


class FlagStatus(StrEnum):
    open = "open"
    dismissed = "dismissed"
    escalated = "escalated"


class Flag(SQLModel, table=True):
    """A lead for review: one per rule, officer and subject (or day), its evidence the audit
    event ids of the transactions that support it, growing as more arrive."""

    __tablename__ = "appropriate_use_flags"
    __table_args__ = (UniqueConstraint("rule", "officer", "key", name="uq_flag_rule_officer_key"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    rule: str = Field(max_length=32)
    officer: str = Field(max_length=16, index=True)
    key: str = Field(max_length=64)
    score: float
    evidence: list[str] = Field(default_factory=list, sa_type=JSONDocument)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    status: str = Field(default=FlagStatus.open, max_length=16, index=True)
    raised_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class FlagNote(SQLModel, table=True):
    """A reviewer's note on a flag, with the decision it records, if any."""

    __tablename__ = "appropriate_use_flag_notes"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    flag_id: uuid.UUID = Field(foreign_key="appropriate_use_flags.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    author: str = Field(max_length=128)
    status_from: str = Field(max_length=16)
    status_to: str = Field(max_length=16)
    note: str = Field(sa_column=Column(Text, nullable=False))


class JustificationRequest(SQLModel, table=True):
    """A transaction drawn in the random sample: the officer is asked why, and answers."""

    __tablename__ = "justification_requests"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    transaction_id: uuid.UUID = Field(unique=True)
    event_id: uuid.UUID  # the transaction's audit event
    officer: str = Field(max_length=16, index=True)
    device_id: uuid.UUID = Field(index=True)
    asked_at: datetime = Field(sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answer: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
