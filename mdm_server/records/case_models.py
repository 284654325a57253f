"""The demo records connector's missing-person cases and their timelines. A force's own
records system holds these instead; Tabard keeps them only for the demo connector, so the
whole flow works out of the box. Everything in them is what officers typed: synthetic in
demonstrations and training."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from mdm_server.types import JSONDocument, UTCDateTime


class MissingPersonCase(SQLModel, table=True):
    """A missing person's case as it stands: opened by the registration filed as `reference`."""

    __tablename__ = "missing_person_cases"

    reference: str = Field(primary_key=True, max_length=32)
    surname: str = Field(max_length=64)
    forename: str = Field(max_length=64)
    date_of_birth: date | None = None
    description: str = Field(sa_type=Text)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_location: str = Field(max_length=200)
    risk: str = Field(max_length=16)
    status: str = Field(default="open", max_length=8, index=True)
    division: str | None = Field(default=None, max_length=64, index=True)
    reported_by: str = Field(max_length=16, index=True)
    assigned_to: str | None = Field(default=None, max_length=16, index=True)
    opened_at: datetime = Field(sa_type=UTCDateTime)
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str | None = Field(default=None, max_length=16)


class MissingPersonCaseEntry(SQLModel, table=True):
    """One line of a case's timeline, in the order it was written."""

    __tablename__ = "missing_person_case_entries"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(foreign_key="missing_person_cases.reference", max_length=32, index=True)
    kind: str = Field(max_length=16)
    note: str | None = Field(default=None, sa_type=Text)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    by: str = Field(max_length=64)
    at: datetime = Field(sa_type=UTCDateTime)
    transaction_id: uuid.UUID
