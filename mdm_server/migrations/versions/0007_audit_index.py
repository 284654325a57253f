"""What auditors search audit events by, one row per event, in place of the events' own
secondary indexes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from alembic import op

from mdm_server.audit.index import index_row
from mdm_server.types import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000
REPLACED_INDEXES = ("action", "actor_id", "occurred_at", "target_id")


def upgrade() -> None:
    op.create_table(
        "audit_index",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("officer", sa.String(16), nullable=True),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("division", sa.String(64), nullable=True),
        sa.Column("transaction_type", sa.String(32), nullable=True),
        sa.Column("purpose", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_index"),
    )
    for name, columns in (
        ("ix_audit_index_officer_seq", ["officer", "seq"]),
        ("ix_audit_index_device_seq", ["device_id", "seq"]),
        ("ix_audit_index_division_seq", ["division", "seq"]),
        ("ix_audit_index_action_seq", ["action", "seq"]),
        ("ix_audit_index_occurred_at", ["occurred_at"]),
    ):
        op.create_index(name, "audit_index", columns)
    _index_existing_events()
    # Searches now go through audit_index: the events' own secondary indexes only slow writes.
    for column in REPLACED_INDEXES:
        op.drop_index(f"ix_audit_events_{column}", table_name="audit_events")
    if op.get_bind().dialect.name == "postgresql":  # the function 0006 made
        op.execute(
            "CREATE TRIGGER audit_index_append_only BEFORE UPDATE OR DELETE ON audit_index "
            "FOR EACH ROW EXECUTE FUNCTION tabard_audit_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_index_no_truncate BEFORE TRUNCATE ON audit_index "
            "FOR EACH STATEMENT EXECUTE FUNCTION tabard_audit_append_only()"
        )


def _event(canonical: str) -> Any:
    document = json.loads(canonical)
    target = document.get("target") or {}
    return SimpleNamespace(
        seq=document["seq"],
        occurred_at=datetime.strptime(document["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=UTC
        ),
        action=document["action"],
        target_type=target.get("type"),
        target_id=target.get("id"),
        detail=document.get("detail") or {},
    )


def _index_existing_events() -> None:
    connection = op.get_bind()
    table = sa.table(
        "audit_index",
        *(
            sa.column(name, UTCDateTime() if name == "occurred_at" else None)
            for name in (
                "seq",
                "occurred_at",
                "action",
                "officer",
                "device_id",
                "division",
                "transaction_type",
                "purpose",
            )
        ),
    )
    after = 0
    while True:
        rows = connection.execute(
            sa.text(
                "SELECT seq, canonical FROM audit_events WHERE seq > :after ORDER BY seq "
                f"LIMIT {BATCH}"
            ),
            {"after": after},
        ).all()
        if rows:
            connection.execute(sa.insert(table), [index_row(_event(c)) for _, c in rows])
        if len(rows) < BATCH:
            return
        after = rows[-1][0]


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_index_no_truncate ON audit_index")
        op.execute("DROP TRIGGER audit_index_append_only ON audit_index")
    op.drop_table("audit_index")
    for column in REPLACED_INDEXES:
        op.create_index(f"ix_audit_events_{column}", "audit_events", [column])
