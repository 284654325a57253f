"""App releases: a catalogue version on a track of stages, and the devices each stage chose
with the install (and rollback) command each was sent.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import JSONDocument, UTCDateTime

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_releases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("package", sa.String(255), nullable=False),
        sa.Column("version_code", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("profile", sa.String(16), nullable=False),
        sa.Column("previous_version_code", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("stages", JSONDocument, nullable=False),
        sa.Column("failure_threshold_pct", sa.Float(), nullable=False),
        sa.Column("widen_every_s", sa.Integer(), nullable=True),
        sa.Column("stage_started_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("halted_at", UTCDateTime(), nullable=True),
        sa.Column("halted_by", sa.String(128), nullable=True),
        sa.Column("halt_reason", sa.String(500), nullable=True),
        sa.Column("rolled_back_at", UTCDateTime(), nullable=True),
        sa.Column("resumed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_app_releases"),
    )
    op.create_index("ix_app_releases_package", "app_releases", ["package"])
    op.create_index("ix_app_releases_state", "app_releases", ["state"])
    op.create_table(
        "app_release_devices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("release_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("command_id", sa.Uuid(), nullable=True),
        sa.Column("rollback_command_id", sa.Uuid(), nullable=True),
        sa.Column("chosen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_app_release_devices"),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["app_releases.id"],
            name="fk_app_release_devices_release_id_app_releases",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name="fk_app_release_devices_device_id_devices"
        ),
        sa.ForeignKeyConstraint(
            ["command_id"], ["commands.id"], name="fk_app_release_devices_command_id_commands"
        ),
        sa.ForeignKeyConstraint(
            ["rollback_command_id"],
            ["commands.id"],
            name="fk_app_release_devices_rollback_command_id_commands",
        ),
        sa.UniqueConstraint(
            "release_id", "device_id", name="uq_app_release_devices_release_id_device_id"
        ),
    )
    op.create_index("ix_app_release_devices_release_id", "app_release_devices", ["release_id"])
    op.create_index("ix_app_release_devices_command_id", "app_release_devices", ["command_id"])


def downgrade() -> None:
    op.drop_index("ix_app_release_devices_command_id", table_name="app_release_devices")
    op.drop_index("ix_app_release_devices_release_id", table_name="app_release_devices")
    op.drop_table("app_release_devices")
    op.drop_index("ix_app_releases_state", table_name="app_releases")
    op.drop_index("ix_app_releases_package", table_name="app_releases")
    op.drop_table("app_releases")
