"""A covering index for the demand view: a division's transactions over a span of time, with
the columns it counts by, so its counts are one range scan of the index and never a visit to
the table (bench/iops.py: 4.8 million transactions a year).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_audit_index_division_occurred_at"
COLUMNS = ["division", "occurred_at", "action", "transaction_type", "purpose", "outcome"]


def upgrade() -> None:
    op.create_index(NAME, "audit_index", COLUMNS)


def downgrade() -> None:
    op.drop_index(NAME, table_name="audit_index")
