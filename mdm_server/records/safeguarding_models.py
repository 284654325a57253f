"""The demo records connector's safeguarding referrals: where each referral's triage has got to.
What the officer wrote is the filed report with the same reference (filed_reports); this row
adds the MASH team's rating and decision. Synthetic in demonstrations and training."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from mdm_server.types import UTCDateTime


class SafeguardingReferral(SQLModel, table=True):
    """A referral's triage: rated red, amber or green, then decided, each with who, when, why."""

    __tablename__ = "safeguarding_referrals"
    __table_args__ = (
        Index("ix_safeguarding_referrals_queue", "decided_at", "raised_at"),
        Index("ix_safeguarding_referrals_division", "division", "decided_at", "raised_at"),
    )

    reference: str = Field(primary_key=True, foreign_key="filed_reports.reference", max_length=32)
    at_risk: str = Field(max_length=8)
    division: str | None = Field(default=None, max_length=64)
    raised_by: str = Field(max_length=16)
    raised_at: datetime = Field(sa_type=UTCDateTime)
    rating: str | None = Field(default=None, max_length=8)
    rating_reason: str | None = Field(default=None, sa_type=Text)
    rated_by: str | None = Field(default=None, max_length=64)
    rated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision: str | None = Field(default=None, max_length=32)
    decision_reason: str | None = Field(default=None, sa_type=Text)
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
