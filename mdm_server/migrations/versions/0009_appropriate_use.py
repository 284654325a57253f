"""Appropriate use: the directory the rules read, rosters, flags and their notes, and the
justifications asked of officers.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import JSONDocument, UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "appropriate_use_directory",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("officer", sa.String(16), nullable=True),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("identity", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_appropriate_use_directory"),
    )
    op.create_index("ix_appropriate_use_directory_officer", "appropriate_use_directory", ["officer"])
    op.create_index("ix_appropriate_use_directory_subject", "appropriate_use_directory", ["subject"])
    op.create_table(
        "appropriate_use_shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("officer", sa.String(16), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_appropriate_use_shifts"),
    )
    op.create_index("ix_appropriate_use_shifts_officer", "appropriate_use_shifts", ["officer"])
    op.create_table(
        "appropriate_use_flags",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("officer", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("evidence", JSONDocument, nullable=False),
        sa.Column("detail", JSONDocument, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_appropriate_use_flags"),
        sa.UniqueConstraint("rule", "officer", "key", name="uq_flag_rule_officer_key"),
    )
    op.create_index("ix_appropriate_use_flags_officer", "appropriate_use_flags", ["officer"])
    op.create_index("ix_appropriate_use_flags_status", "appropriate_use_flags", ["status"])
    op.create_table(
        "appropriate_use_flag_notes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flag_id", sa.Uuid(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("status_from", sa.String(16), nullable=False),
        sa.Column("status_to", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flag_id"], ["appropriate_use_flags.id"], name="fk_flag_notes_flag"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_appropriate_use_flag_notes"),
    )
    op.create_index(
        "ix_appropriate_use_flag_notes_flag_id", "appropriate_use_flag_notes", ["flag_id"]
    )
    op.create_table(
        "justification_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("officer", sa.String(16), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("asked_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_justification_requests"),
        sa.UniqueConstraint("transaction_id", name="uq_justification_requests_transaction_id"),
    )
    op.create_index("ix_justification_requests_officer", "justification_requests", ["officer"])
    op.create_index("ix_justification_requests_device_id", "justification_requests", ["device_id"])


def downgrade() -> None:
    op.drop_table("justification_requests")
    op.drop_table("appropriate_use_flag_notes")
    op.drop_table("appropriate_use_flags")
    op.drop_table("appropriate_use_shifts")
    op.drop_table("appropriate_use_directory")
