"""The demo records connector's tables: reports filed through the secure side, every version
of each (who, when, why), and the annotations kept beside signed witness statements. A force's
own records system holds these instead; Tabard keeps them only for the demo connector, so the
whole flow works out of the box. Everything in them is what officers typed: synthetic in
demonstrations and training."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from mdm_server.types import JSONDocument, UTCDateTime


class FiledReport(SQLModel, table=True):
    """A report as it stands now. A witness statement's signature, the time signed and the
    digest binding them to the text are set on filing and never change. `division` is the
    filing officer's; `latitude` and `longitude` where the report happened, as the report gave
    them or as its location text was placed on the division's map (mdm_server/geo), or none."""

    __tablename__ = "filed_reports"
    __table_args__ = (Index("ix_filed_reports_division_filed_at", "division", "filed_at"),)

    reference: str = Field(primary_key=True, max_length=32)
    kind: str = Field(max_length=32, index=True)
    transaction_id: uuid.UUID = Field(unique=True)
    filed_by: str = Field(max_length=16)
    filed_at: datetime = Field(sa_type=UTCDateTime)
    version: int = 1
    fields: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    signature: dict[str, Any] | None = Field(default=None, sa_type=JSONDocument)
    signed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    signature_digest: str | None = Field(default=None, max_length=64)
    division: str | None = Field(default=None, max_length=64)
    latitude: float | None = None
    longitude: float | None = None


class FiledReportVersion(SQLModel, table=True):
    """One version of a report: the first as filed, each later one an update with its reason."""

    __tablename__ = "filed_report_versions"
    __table_args__ = (UniqueConstraint("reference", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(foreign_key="filed_reports.reference", max_length=32)
    version: int
    fields: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    changed: list[str] = Field(default_factory=list, sa_type=JSONDocument)
    reason: str | None = Field(default=None, max_length=500)
    by: str = Field(max_length=16)
    at: datetime = Field(sa_type=UTCDateTime)
    transaction_id: uuid.UUID


class ReportAnnotation(SQLModel, table=True):
    """A note kept beside a signed witness statement, which itself never changes."""

    __tablename__ = "report_annotations"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(foreign_key="filed_reports.reference", max_length=32, index=True)
    note: str = Field(sa_type=Text)
    by: str = Field(max_length=16)
    at: datetime = Field(sa_type=UTCDateTime)
    transaction_id: uuid.UUID = Field(unique=True)
