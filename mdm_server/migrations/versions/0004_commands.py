"""Commands to devices; lost-device reports; enforcement actions carried out.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import JSONDocument, UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "commands",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("device_seq", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("params", JSONDocument, nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("idempotency_key", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("approved_by", sa.String(128), nullable=True),
        sa.Column("approved_at", UTCDateTime(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("envelope_expires_at", UTCDateTime(), nullable=True),
        sa.Column("envelope_digests", JSONDocument, nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("executed_at", UTCDateTime(), nullable=True),
        sa.Column("receipt", sa.Text(), nullable=True),
        sa.Column("evidence", JSONDocument, nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("cancelled_by", sa.String(128), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.Column("cancel_reason", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name="fk_commands_device_id_devices"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_commands"),
        sa.UniqueConstraint("device_id", "device_seq", name="uq_commands_device_id_device_seq"),
        sa.UniqueConstraint(
            "requested_by_id", "idempotency_key", name="uq_commands_requested_by_id_idempotency_key"
        ),
    )
    op.create_index("ix_commands_batch_id", "commands", ["batch_id"])
    op.create_index("ix_commands_state", "commands", ["state"])
    op.create_index("ix_commands_expires_at", "commands", ["expires_at"])
    op.create_index("ix_commands_device_open", "commands", ["device_id", "state"])

    # Plain columns, so SQLite can add them without rebuilding the tables.
    op.add_column("devices", sa.Column("lost_at", UTCDateTime(), nullable=True))
    op.add_column("devices", sa.Column("lost_reported_by", sa.String(128), nullable=True))
    op.add_column("enforcement_actions", sa.Column("carried_out_at", UTCDateTime(), nullable=True))
    op.add_column("enforcement_actions", sa.Column("command_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("enforcement_actions", "command_id")
    op.drop_column("enforcement_actions", "carried_out_at")
    op.drop_column("devices", "lost_reported_by")
    op.drop_column("devices", "lost_at")
    op.drop_table("commands")
