"""Safeguarding referrals for the demo records connector: each referral's triage (the MASH
team's rating and decision) beside the filed report that holds what the officer wrote.

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "safeguarding_referrals",
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("at_risk", sa.String(8), nullable=False),
        sa.Column("division", sa.String(64), nullable=True),
        sa.Column("raised_by", sa.String(16), nullable=False),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("rating", sa.String(8), nullable=True),
        sa.Column("rating_reason", sa.Text(), nullable=True),
        sa.Column("rated_by", sa.String(64), nullable=True),
        sa.Column("rated_at", UTCDateTime(), nullable=True),
        sa.Column("decision", sa.String(32), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["reference"],
            ["filed_reports.reference"],
            name="fk_safeguarding_referrals_reference_filed_reports",
        ),
        sa.PrimaryKeyConstraint("reference", name="pk_safeguarding_referrals"),
    )
    op.create_index(
        "ix_safeguarding_referrals_queue", "safeguarding_referrals", ["decided_at", "raised_at"]
    )
    op.create_index(
        "ix_safeguarding_referrals_division",
        "safeguarding_referrals",
        ["division", "decided_at", "raised_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_safeguarding_referrals_division", table_name="safeguarding_referrals")
    op.drop_index("ix_safeguarding_referrals_queue", table_name="safeguarding_referrals")
    op.drop_table("safeguarding_referrals")
