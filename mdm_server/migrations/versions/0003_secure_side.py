"""The secure side: container keys, officers' PINs, appropriate-use acknowledgements, secure
sessions; and device events from the agents' outboxes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import JSONDocument, UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], name=f"fk_{table}_{column}_{referred}"
    )


def upgrade() -> None:
    op.create_table(
        "container_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("destroyed_at", UTCDateTime(), nullable=True),
        sa.Column("destroyed_reason", sa.String(200), nullable=True),
        sa.Column("destroyed_by", sa.String(128), nullable=True),
        _fk("container_keys", "device_id", "devices"),
        sa.PrimaryKeyConstraint("id", name="pk_container_keys"),
    )
    op.create_index("ix_container_keys_device_id", "container_keys", ["device_id"])
    op.create_index(
        "uq_container_keys_live",
        "container_keys",
        ["device_id"],
        unique=True,
        sqlite_where=sa.text("destroyed_at IS NULL"),
        postgresql_where=sa.text("destroyed_at IS NULL"),
    )

    op.create_table(
        "officer_pins",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("pin_hash", sa.String(256), nullable=False),
        sa.Column("must_change", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("set_at", UTCDateTime(), nullable=False),
        _fk("officer_pins", "user_id", "staff_users"),
        sa.PrimaryKeyConstraint("user_id", name="pk_officer_pins"),
    )

    op.create_table(
        "policy_acknowledgements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Uuid(), nullable=False),
        sa.Column("text_version", sa.String(32), nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=False),
        _fk("policy_acknowledgements", "officer_id", "staff_users"),
        _fk("policy_acknowledgements", "device_id", "devices"),
        sa.PrimaryKeyConstraint("id", name="pk_policy_acknowledgements"),
        sa.UniqueConstraint(
            "officer_id", "text_version", name="uq_policy_acknowledgements_officer_id_text_version"
        ),
    )
    op.create_index(
        "ix_policy_acknowledgements_officer_id", "policy_acknowledgements", ["officer_id"]
    )

    op.create_table(
        "secure_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("officer_id", sa.Uuid(), nullable=False),
        sa.Column("token_digest", sa.String(64), nullable=False),
        sa.Column("container_key_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("last_activity_at", UTCDateTime(), nullable=False),
        sa.Column("inactivity_s", sa.Integer(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        _fk("secure_sessions", "device_id", "devices"),
        _fk("secure_sessions", "officer_id", "staff_users"),
        _fk("secure_sessions", "container_key_id", "container_keys"),
        sa.PrimaryKeyConstraint("id", name="pk_secure_sessions"),
        sa.UniqueConstraint("token_digest", name="uq_secure_sessions_token_digest"),
    )
    op.create_index("ix_secure_sessions_device_id", "secure_sessions", ["device_id"])
    op.create_index("ix_secure_sessions_officer_id", "secure_sessions", ["officer_id"])
    op.create_index("ix_secure_sessions_ended_at", "secure_sessions", ["ended_at"])

    op.create_table(
        "device_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("detail", JSONDocument, nullable=False),
        _fk("device_events", "device_id", "devices"),
        sa.PrimaryKeyConstraint("id", name="pk_device_events"),
        sa.UniqueConstraint("device_id", "event_id", name="uq_device_events_device_id_event_id"),
        sa.UniqueConstraint("device_id", "seq", name="uq_device_events_device_id_seq"),
    )

    op.create_table(
        "device_event_heads",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("contiguous_seq", sa.Integer(), nullable=False),
        sa.Column("highest_seq", sa.Integer(), nullable=False),
        _fk("device_event_heads", "device_id", "devices"),
        sa.PrimaryKeyConstraint("device_id", name="pk_device_event_heads"),
    )


def downgrade() -> None:
    for table in (
        "device_event_heads",
        "device_events",
        "secure_sessions",
        "policy_acknowledgements",
        "officer_pins",
        "container_keys",
    ):
        op.drop_table(table)
