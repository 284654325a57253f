"""The outcome of each transaction in the audit index (answered, refused:<code>, ...), so the
demand view counts answered transactions and shows refused ones apart without reading every
event's bytes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.audit.index import outcome_of

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000
# The index is append-only on PostgreSQL (0007); filling a new column in is the one update.
TRIGGER = "audit_index_append_only"


def upgrade() -> None:
    op.add_column("audit_index", sa.Column("outcome", sa.String(64), nullable=True))
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(f"ALTER TABLE audit_index DISABLE TRIGGER {TRIGGER}")
    _fill_in_outcomes()
    if postgresql:
        op.execute(f"ALTER TABLE audit_index ENABLE TRIGGER {TRIGGER}")


def _fill_in_outcomes() -> None:
    connection = op.get_bind()
    after = 0
    while True:
        rows = connection.execute(
            sa.text(
                "SELECT e.seq, e.canonical FROM audit_events e "
                "JOIN audit_index i ON i.seq = e.seq "
                "WHERE i.action LIKE 'transaction.%' AND e.seq > :after "
                f"ORDER BY e.seq LIMIT {BATCH}"
            ),
            {"after": after},
        ).all()
        updates = []
        for seq, canonical in rows:
            document = json.loads(canonical)
            outcome = outcome_of(document["action"], document.get("detail"))
            if outcome is not None:
                updates.append({"seq": seq, "outcome": outcome})
        if updates:
            connection.execute(
                sa.text("UPDATE audit_index SET outcome = :outcome WHERE seq = :seq"), updates
            )
        if len(rows) < BATCH:
            return
        after = rows[-1][0]


def downgrade() -> None:
    op.drop_column("audit_index", "outcome")
