"""Passkeys for staff (WebAuthn credentials, several per account) and the single-use
challenges given for them.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import UTCDateTime

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_passkeys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("credential_id", sa.String(1400), nullable=False),
        sa.Column("credential_data", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_users.id"], name="fk_staff_passkeys_user_id_staff_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_staff_passkeys"),
        sa.UniqueConstraint("credential_id", name="uq_staff_passkeys_credential_id"),
    )
    op.create_index("ix_staff_passkeys_user_id", "staff_passkeys", ["user_id"])
    op.create_table(
        "staff_passkey_ceremonies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("challenge", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_users.id"],
            name="fk_staff_passkey_ceremonies_user_id_staff_users",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_staff_passkey_ceremonies"),
    )
    op.create_index(
        "ix_staff_passkey_ceremonies_user_id", "staff_passkey_ceremonies", ["user_id"]
    )
    op.create_index(
        "ix_staff_passkey_ceremonies_expires_at", "staff_passkey_ceremonies", ["expires_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_staff_passkey_ceremonies_expires_at", table_name="staff_passkey_ceremonies")
    op.drop_index("ix_staff_passkey_ceremonies_user_id", table_name="staff_passkey_ceremonies")
    op.drop_table("staff_passkey_ceremonies")
    op.drop_index("ix_staff_passkeys_user_id", table_name="staff_passkeys")
    op.drop_table("staff_passkeys")
