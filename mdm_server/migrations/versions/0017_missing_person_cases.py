"""Missing-person cases for the demo records connector: each case as it stands and its
timeline (opened, sightings, welfare checks, found, regraded, assigned, reviews, closed).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import JSONDocument, UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CASES = "missing_person_cases"
ENTRIES = "missing_person_case_entries"


def upgrade() -> None:
    op.create_table(
        CASES,
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("surname", sa.String(64), nullable=False),
        sa.Column("forename", sa.String(64), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_location", sa.String(200), nullable=False),
        sa.Column("risk", sa.String(16), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("division", sa.String(64), nullable=True),
        sa.Column("reported_by", sa.String(16), nullable=False),
        sa.Column("assigned_to", sa.String(16), nullable=True),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("reviewed_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("reference", name=f"pk_{CASES}"),
    )
    for column in ("status", "division", "reported_by", "assigned_to"):
        op.create_index(f"ix_{CASES}_{column}", CASES, [column])
    op.create_table(
        ENTRIES,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("detail", JSONDocument, nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reference"], [f"{CASES}.reference"], name=f"fk_{ENTRIES}_reference_{CASES}"
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{ENTRIES}"),
    )
    op.create_index(f"ix_{ENTRIES}_reference", ENTRIES, ["reference"])


def downgrade() -> None:
    op.drop_index(f"ix_{ENTRIES}_reference", table_name=ENTRIES)
    op.drop_table(ENTRIES)
    for column in ("status", "division", "reported_by", "assigned_to"):
        op.drop_index(f"ix_{CASES}_{column}", table_name=CASES)
    op.drop_table(CASES)
