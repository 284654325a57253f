"""Single sign-on: staff accounts linked to the force's OpenID provider (with the provider's
refresh token, wrapped, for the scheduled check), and the ID tokens already accepted (replay
protection).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import UTCDateTime

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("staff_users", sa.Column("oidc_issuer", sa.String(512), nullable=True))
    op.add_column("staff_users", sa.Column("oidc_subject", sa.String(255), nullable=True))
    op.add_column("staff_users", sa.Column("oidc_refresh_wrapped", sa.LargeBinary(), nullable=True))
    # A unique index rather than a constraint: SQLite adds one in place, without rebuilding
    # a table other tables' foreign keys point at. NULLs never collide, so local accounts
    # (no issuer, no subject) are not constrained.
    op.create_index(
        "ux_staff_users_oidc_issuer_subject",
        "staff_users",
        ["oidc_issuer", "oidc_subject"],
        unique=True,
    )
    op.create_table(
        "oidc_seen_id_tokens",
        sa.Column("token_digest", sa.String(64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_digest", name="pk_oidc_seen_id_tokens"),
    )
    op.create_index("ix_oidc_seen_id_tokens_expires_at", "oidc_seen_id_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_seen_id_tokens_expires_at", table_name="oidc_seen_id_tokens")
    op.drop_table("oidc_seen_id_tokens")
    op.drop_index("ux_staff_users_oidc_issuer_subject", table_name="staff_users")
    op.drop_column("staff_users", "oidc_refresh_wrapped")
    op.drop_column("staff_users", "oidc_subject")
    op.drop_column("staff_users", "oidc_issuer")
