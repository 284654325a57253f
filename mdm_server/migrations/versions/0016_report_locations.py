"""Where filed reports happened: the filing officer's division and a latitude and longitude
(given by the report or placed from its location text), and an index for a division's reports
over a time window (the map). Reports filed before stay valid, with no division or point.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("filed_reports", sa.Column("division", sa.String(64), nullable=True))
    op.add_column("filed_reports", sa.Column("latitude", sa.Float(), nullable=True))
    op.add_column("filed_reports", sa.Column("longitude", sa.Float(), nullable=True))
    op.create_index(
        "ix_filed_reports_division_filed_at", "filed_reports", ["division", "filed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_filed_reports_division_filed_at", table_name="filed_reports")
    with op.batch_alter_table("filed_reports") as batch:
        batch.drop_column("longitude")
        batch.drop_column("latitude")
        batch.drop_column("division")
