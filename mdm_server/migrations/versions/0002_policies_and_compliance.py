"""Policies, versions and assignments; resolved policies; device compliance, its history and
the enforcement actions due.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import JSONDocument, UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, referred: str, referred_column: str = "id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.{referred_column}"], name=f"fk_{table}_{column}_{referred}"
    )


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_policies"),
        sa.UniqueConstraint("name", name="uq_policies_name"),
    )

    op.create_table(
        "policy_versions",
        sa.Column("policy_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", JSONDocument, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("comment", sa.String(500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        _fk("policy_versions", "policy_id", "policies"),
        _fk("policy_versions", "created_by", "staff_users"),
        sa.PrimaryKeyConstraint("policy_id", "version", name="pk_policy_versions"),
    )

    op.create_table(
        "policy_assignments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("policy_id", sa.Uuid(), nullable=False),
        sa.Column("assigned_at", UTCDateTime(), nullable=False),
        sa.Column("assigned_by", sa.Uuid(), nullable=True),
        _fk("policy_assignments", "policy_id", "policies"),
        _fk("policy_assignments", "assigned_by", "staff_users"),
        sa.PrimaryKeyConstraint("id", name="pk_policy_assignments"),
        sa.UniqueConstraint("scope", "target", name="uq_policy_assignments_scope_target"),
    )
    op.create_index("ix_policy_assignments_policy_id", "policy_assignments", ["policy_id"])

    epoch = op.create_table(
        "policy_epoch",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_policy_epoch"),
    )
    op.bulk_insert(epoch, [{"id": 1, "epoch": 1}])

    op.create_table(
        "resolved_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("document", JSONDocument, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_resolved_policies"),
        sa.UniqueConstraint("digest", name="uq_resolved_policies_digest"),
    )

    op.create_table(
        "device_compliance",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("resolved_policy_id", sa.Integer(), nullable=True),
        sa.Column("layers", JSONDocument, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_since", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("findings", JSONDocument, nullable=False),
        sa.Column("actions", JSONDocument, nullable=False),
        sa.Column("first_seen", JSONDocument, nullable=False),
        _fk("device_compliance", "device_id", "devices"),
        _fk("device_compliance", "resolved_policy_id", "resolved_policies"),
        sa.PrimaryKeyConstraint("device_id", name="pk_device_compliance"),
    )
    op.create_index("ix_device_compliance_status", "device_compliance", ["status"])

    op.create_table(
        "compliance_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("status_before", sa.String(16), nullable=True),
        sa.Column("status_after", sa.String(16), nullable=False),
        sa.Column("resolved_policy_id", sa.Integer(), nullable=True),
        sa.Column("changes", JSONDocument, nullable=False),
        sa.Column("cause", sa.String(16), nullable=False),
        _fk("compliance_changes", "device_id", "devices"),
        _fk("compliance_changes", "resolved_policy_id", "resolved_policies"),
        sa.PrimaryKeyConstraint("id", name="pk_compliance_changes"),
    )
    op.create_index("ix_compliance_changes_device_id", "compliance_changes", ["device_id"])

    op.create_table(
        "enforcement_actions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("rules", JSONDocument, nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        _fk("enforcement_actions", "device_id", "devices"),
        sa.PrimaryKeyConstraint("id", name="pk_enforcement_actions"),
    )
    op.create_index("ix_enforcement_actions_device_id", "enforcement_actions", ["device_id"])
    op.create_index("ix_enforcement_actions_state", "enforcement_actions", ["state"])
    op.create_index(
        "uq_enforcement_actions_open",
        "enforcement_actions",
        ["device_id", "action"],
        unique=True,
        sqlite_where=sa.text("state = 'due'"),
        postgresql_where=sa.text("state = 'due'"),
    )

    # Plain columns (no foreign key), so SQLite can add them without rebuilding the table.
    op.add_column("devices", sa.Column("policy_version", sa.Integer(), nullable=True))
    op.add_column("devices", sa.Column("policy_epoch", sa.Integer(), nullable=True))
    op.add_column("devices", sa.Column("compliance_status", sa.String(16), nullable=True))
    op.add_column("devices", sa.Column("compliance_review_at", UTCDateTime(), nullable=True))
    op.create_index("ix_devices_compliance_status", "devices", ["compliance_status"])
    op.create_index("ix_devices_compliance_review_at", "devices", ["compliance_review_at"])


def downgrade() -> None:
    op.drop_index("ix_devices_compliance_review_at", "devices")
    op.drop_index("ix_devices_compliance_status", "devices")
    for column in ("compliance_review_at", "compliance_status", "policy_epoch", "policy_version"):
        op.drop_column("devices", column)
    for table in (
        "enforcement_actions",
        "compliance_changes",
        "device_compliance",
        "resolved_policies",
        "policy_epoch",
        "policy_assignments",
        "policy_versions",
        "policies",
    ):
        op.drop_table(table)
