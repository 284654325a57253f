"""Scheduled jobs' runs; enrolment token expiry on record.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import JSONDocument, UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduled_jobs",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("last_started_at", UTCDateTime(), nullable=True),
        sa.Column("last_finished_at", UTCDateTime(), nullable=True),
        sa.Column("last_worker", sa.String(128), nullable=True),
        sa.Column("last_result", JSONDocument, nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("quiet_runs", sa.Integer(), nullable=False),
        sa.Column("last_audited_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_scheduled_jobs"),
    )
    op.add_column("enrolment_tokens", sa.Column("expired_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("enrolment_tokens", "expired_at")
    op.drop_table("scheduled_jobs")
