"""Filed reports for the demo records connector: each report as it stands, every version of
it (who, when, why) and the annotations kept beside signed witness statements.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import JSONDocument, UTCDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "filed_reports",
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("filed_by", sa.String(16), nullable=False),
        sa.Column("filed_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fields", JSONDocument, nullable=False),
        sa.Column("signature", JSONDocument, nullable=True),
        sa.Column("signed_at", UTCDateTime(), nullable=True),
        sa.Column("signature_digest", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("reference", name="pk_filed_reports"),
        sa.UniqueConstraint("transaction_id", name="uq_filed_reports_transaction_id"),
    )
    op.create_index("ix_filed_reports_kind", "filed_reports", ["kind"])
    op.create_table(
        "filed_report_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fields", JSONDocument, nullable=False),
        sa.Column("changed", JSONDocument, nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("by", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reference"],
            ["filed_reports.reference"],
            name="fk_filed_report_versions_reference_filed_reports",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_filed_report_versions"),
        sa.UniqueConstraint(
            "reference", "version", name="uq_filed_report_versions_reference_version"
        ),
    )
    op.create_table(
        "report_annotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("by", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reference"],
            ["filed_reports.reference"],
            name="fk_report_annotations_reference_filed_reports",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_report_annotations"),
        sa.UniqueConstraint("transaction_id", name="uq_report_annotations_transaction_id"),
    )
    op.create_index("ix_report_annotations_reference", "report_annotations", ["reference"])


def downgrade() -> None:
    op.drop_index("ix_report_annotations_reference", table_name="report_annotations")
    op.drop_table("report_annotations")
    op.drop_table("filed_report_versions")
    op.drop_index("ix_filed_reports_kind", table_name="filed_reports")
    op.drop_table("filed_reports")
