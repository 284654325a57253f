"""Second factors for staff: authenticator apps (TOTP) and their recovery codes.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_second_factors",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("secret_wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_users.id"],
            name="fk_staff_second_factors_user_id_staff_users",
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_staff_second_factors"),
    )
    op.create_table(
        "staff_recovery_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_digest", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_users.id"],
            name="fk_staff_recovery_codes_user_id_staff_users",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_staff_recovery_codes"),
        sa.UniqueConstraint("code_digest", name="uq_staff_recovery_codes_code_digest"),
    )
    op.create_index("ix_staff_recovery_codes_user_id", "staff_recovery_codes", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_staff_recovery_codes_user_id", table_name="staff_recovery_codes")
    op.drop_table("staff_recovery_codes")
    op.drop_table("staff_second_factors")
