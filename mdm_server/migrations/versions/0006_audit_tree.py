"""The audit log's Merkle tree and signed checkpoints; audit rows append-only on PostgreSQL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mdm_server.audit.merkle import CompactRange, leaf_hash
from mdm_server.types import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("audit_events", "audit_tree_nodes", "audit_checkpoints")
# Rows of the audit tables are never updated or deleted. The one exception is retention
# (docs/audit.md), which deletes old events (and their search index rows, table of 0007)
# inside a transaction that first says so with `SET LOCAL tabard.audit_retention = 'on'` and
# writes a signed deletion record; the tree's nodes, and so every proof, stay.
_REFUSE = """
CREATE FUNCTION tabard_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME IN ('audit_events', 'audit_index')
       AND current_setting('tabard.audit_retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def upgrade() -> None:
    op.create_table(
        "audit_tree_nodes",
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_audit_tree_nodes"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("size", name="pk_audit_checkpoints"),
    )
    _build_tree_over_existing_events()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_REFUSE)
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION tabard_audit_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION tabard_audit_append_only()"
            )


def _build_tree_over_existing_events() -> None:
    connection = op.get_bind()
    nodes = sa.table(
        "audit_tree_nodes", sa.column("level"), sa.column("idx"), sa.column("hash")
    )
    compact = CompactRange()
    after = 0
    while True:
        rows = connection.execute(
            sa.text(
                "SELECT seq, canonical FROM audit_events WHERE seq > :after ORDER BY seq LIMIT 5000"
            ),
            {"after": after},
        ).all()
        batch = []
        for seq, canonical in rows:
            if seq != compact.size + 1:
                raise RuntimeError(f"audit event {compact.size + 1} is missing; cannot build the tree")
            for (level, idx), value in compact.append(leaf_hash(canonical.encode("utf-8"))):
                batch.append({"level": level, "idx": idx, "hash": value})
        if batch:
            connection.execute(sa.insert(nodes), batch)
        if len(rows) < 5000:
            return
        after = rows[-1][0]


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION tabard_audit_append_only()")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_tree_nodes")
