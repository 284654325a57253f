"""Check-ins update the device row in place: `devices.last_seen_at` loses its index, and on
PostgreSQL each page of `devices` keeps room for a second version of its rows.

A check-in changes `last_seen_at` and `posture_received_at` and nothing else. While a changed
column was indexed, PostgreSQL wrote a new entry into every one of the table's ten indexes on
each check-in; now the update is a HOT update, which touches none of them. What reads
`last_seen_at` (the fleet summary, stale-device counts, offline-wipe enforcement) reads the
whole fleet anyway.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 85  # as DEVICES_FILLFACTOR in mdm_server/devices/models.py, when this was written


def upgrade() -> None:
    op.drop_index("ix_devices_last_seen_at", table_name="devices")
    if op.get_bind().dialect.name == "postgresql":
        # Pages written from now on; existing ones gain the room as rows move.
        op.execute(f"ALTER TABLE devices SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE devices RESET (fillfactor)")
    op.create_index("ix_devices_last_seen_at", "devices", ["last_seen_at"])
