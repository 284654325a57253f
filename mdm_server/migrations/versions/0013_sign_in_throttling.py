"""Sign-in throttling by account and address (mdm_server.auth.throttle) in place of the
account lockout, which let anyone who knew a username lock its owner out.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_clients",
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", UTCDateTime(), nullable=True),
        sa.Column("succeeded_at", UTCDateTime(), nullable=True),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account", "address", name="pk_sign_in_clients"),
    )
    op.create_index("ix_sign_in_clients_address", "sign_in_clients", ["address"])
    op.drop_column("staff_users", "locked_until")
    op.drop_column("staff_users", "failed_logins")


def downgrade() -> None:
    op.add_column(
        "staff_users",
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("staff_users", sa.Column("locked_until", UTCDateTime(), nullable=True))
    op.drop_index("ix_sign_in_clients_address", table_name="sign_in_clients")
    op.drop_table("sign_in_clients")
