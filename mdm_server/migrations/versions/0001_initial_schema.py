"""Initial schema: staff accounts, enrolment tokens, devices, certificates, posture, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import JSONDocument, UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _indexes(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(f"ix_{table}_{column}", table, [column])


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("actor_type", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=True),
        sa.Column("actor_name", sa.String(128), nullable=True),
        sa.Column("actor_role", sa.String(32), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=True),
        sa.Column("target_id", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("source_ip", sa.String(64), nullable=True),
        sa.Column("detail", JSONDocument, nullable=False),
        sa.Column("canonical", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
        sa.UniqueConstraint("event_id", name="uq_audit_events_event_id"),
    )
    _indexes("audit_events", "action", "actor_id", "occurred_at", "target_id")

    audit_head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    op.bulk_insert(audit_head, [{"id": 1, "last_seq": 0}])

    op.create_table(
        "staff_users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("collar_number", sa.String(16), nullable=True),
        sa.Column("division", sa.String(64), nullable=True),
        sa.Column("password_hash", sa.String(256), nullable=True),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.Column("sessions_valid_after", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_staff_users"),
        sa.UniqueConstraint("collar_number", name="uq_staff_users_collar_number"),
        sa.UniqueConstraint("username", name="uq_staff_users_username"),
    )
    _indexes("staff_users", "division", "role")

    op.create_table(
        "enrolment_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("secret_digest", sa.String(64), nullable=False),
        sa.Column("group_name", sa.String(64), nullable=False),
        sa.Column("officer_id", sa.Uuid(), nullable=True),
        sa.Column("uses_allowed", sa.Integer(), nullable=False),
        sa.Column("uses_count", sa.Integer(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("allow_reenrolment", sa.Boolean(), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["staff_users.id"], name="fk_enrolment_tokens_created_by_staff_users"
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["staff_users.id"], name="fk_enrolment_tokens_officer_id_staff_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_enrolment_tokens"),
        sa.UniqueConstraint("secret_digest", name="uq_enrolment_tokens_secret_digest"),
    )
    _indexes("enrolment_tokens", "expires_at")

    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("token_digest", sa.String(64), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("rotated_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_users.id"], name="fk_refresh_tokens_user_id_staff_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_refresh_tokens"),
        sa.UniqueConstraint("token_digest", name="uq_refresh_tokens_token_digest"),
    )
    _indexes("refresh_tokens", "expires_at", "family_id", "user_id")

    op.create_table(
        "devices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("imei", sa.String(16), nullable=True),
        sa.Column("manufacturer", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("android_version", sa.String(16), nullable=False),
        sa.Column("sdk", sa.Integer(), nullable=False),
        sa.Column("security_patch", sa.Date(), nullable=True),
        sa.Column("knox_version", sa.String(32), nullable=True),
        sa.Column("warranty_bit", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("group_name", sa.String(64), nullable=False),
        sa.Column("officer_id", sa.Uuid(), nullable=True),
        sa.Column("enrolment_token_id", sa.Uuid(), nullable=True),
        sa.Column("enrolled_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=True),
        sa.Column("posture", JSONDocument, nullable=True),
        sa.Column("posture_digest", sa.String(64), nullable=True),
        sa.Column("posture_received_at", UTCDateTime(), nullable=True),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.Column("retired_reason", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(
            ["enrolment_token_id"],
            ["enrolment_tokens.id"],
            name="fk_devices_enrolment_token_id_enrolment_tokens",
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["staff_users.id"], name="fk_devices_officer_id_staff_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
    )
    _indexes(
        "devices", "android_version", "group_name", "last_seen_at", "model", "officer_id",
        "serial", "state",
    )
    op.create_index(
        "uq_devices_active_serial",
        "devices",
        ["serial"],
        unique=True,
        sqlite_where=sa.text("state = 'active'"),
        postgresql_where=sa.text("state = 'active'"),
    )

    op.create_table(
        "device_assertions",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("jti", sa.String(128), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name="fk_device_assertions_device_id_devices"
        ),
        sa.PrimaryKeyConstraint("device_id", "jti", name="pk_device_assertions"),
    )
    _indexes("device_assertions", "expires_at")

    op.create_table(
        "device_certificates",
        sa.Column("serial_number", sa.String(64), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("fingerprint_sha256", sa.String(64), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("not_after", UTCDateTime(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revocation_reason", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name="fk_device_certificates_device_id_devices"
        ),
        sa.PrimaryKeyConstraint("serial_number", name="pk_device_certificates"),
    )
    _indexes("device_certificates", "device_id")

    op.create_table(
        "device_postures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("posture", JSONDocument, nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name="fk_device_postures_device_id_devices"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_device_postures"),
    )
    _indexes("device_postures", "device_id")


def downgrade() -> None:
    for table in (
        "device_postures",
        "device_certificates",
        "device_assertions",
        "devices",
        "refresh_tokens",
        "enrolment_tokens",
        "staff_users",
        "audit_head",
        "audit_events",
    ):
        op.drop_table(table)
