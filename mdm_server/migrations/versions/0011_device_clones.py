"""Cloned devices: when the server first held two different events that the one device key
signed under the same sequence number (a copy of the device's state in use elsewhere).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.types import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain column, so SQLite can add it without rebuilding the table.
    op.add_column("devices", sa.Column("cloned_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("devices", "cloned_at")
