"""When a console session last used a second factor, so the console can ask for a step-up
before an action that cannot be undone, as the API does from its token's `auth_time`.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import UTCDateTime

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain column, so SQLite can add it without rebuilding the table.
    op.add_column("console_sessions", sa.Column("factor_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("console_sessions", "factor_at")
