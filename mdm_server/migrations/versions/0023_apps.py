"""The app catalogue: apps with their pinned signers, their versions (the APKs themselves live
in the APK store, by SHA-256), and the signer changes two IT administrators decide.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import JSONDocument, UTCDateTime

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("package", sa.String(255), nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("signer_sha256", sa.String(64), nullable=False),
        sa.Column("signer_subject", sa.String(1024), nullable=False),
        sa.Column("signer_not_after", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_apps"),
        sa.UniqueConstraint("package", name="uq_apps_package"),
    )
    op.create_table(
        "app_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("package", sa.String(255), nullable=False),
        sa.Column("version_code", sa.BigInteger(), nullable=False),
        sa.Column("version_name", sa.String(128), nullable=False),
        sa.Column("min_sdk", sa.Integer(), nullable=False),
        sa.Column("target_sdk", sa.Integer(), nullable=True),
        sa.Column("admin_receivers", JSONDocument, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("signer_sha256", sa.String(64), nullable=False),
        sa.Column("schemes", JSONDocument, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
        sa.Column("uploaded_by", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["package"], ["apps.package"], name="fk_app_versions_package_apps"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_app_versions"),
        sa.UniqueConstraint(
            "package", "version_code", name="uq_app_versions_package_version_code"
        ),
    )
    op.create_index("ix_app_versions_sha256", "app_versions", ["sha256"])
    op.create_table(
        "app_signer_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("package", sa.String(255), nullable=False),
        sa.Column("old_signer_sha256", sa.String(64), nullable=False),
        sa.Column("new_signer_sha256", sa.String(64), nullable=False),
        sa.Column("new_signer_subject", sa.String(1024), nullable=False),
        sa.Column("new_signer_not_after", UTCDateTime(), nullable=False),
        sa.Column("version_code", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("accepted_by", sa.String(128), nullable=True),
        sa.Column("accepted_by_id", sa.Uuid(), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("approved_by", sa.String(128), nullable=True),
        sa.Column("approved_by_id", sa.Uuid(), nullable=True),
        sa.Column("refused_by", sa.String(128), nullable=True),
        sa.ForeignKeyConstraint(
            ["package"], ["apps.package"], name="fk_app_signer_changes_package_apps"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_app_signer_changes"),
    )
    op.create_index("ix_app_signer_changes_package", "app_signer_changes", ["package"])
    # At most one signer change waits per app.
    op.create_index(
        "uq_app_signer_changes_pending",
        "app_signer_changes",
        ["package"],
        unique=True,
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("uq_app_signer_changes_pending", table_name="app_signer_changes")
    op.drop_index("ix_app_signer_changes_package", table_name="app_signer_changes")
    op.drop_table("app_signer_changes")
    op.drop_index("ix_app_versions_sha256", table_name="app_versions")
    op.drop_table("app_versions")
    op.drop_table("apps")
