"""Which audit events touched which subject (person, vehicle, incident), by opaque key.

Transactions list their subject keys in the event's detail from this revision on; events
written before it carry none, so there is nothing to backfill.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _append_only_function(tables: str) -> str:
    # As 0006 made it, with the search tables retention may also delete from.
    return f"""
CREATE OR REPLACE FUNCTION tabard_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME IN ({tables})
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
        "audit_subjects",
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "seq", name="pk_audit_subjects"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_append_only_function("'audit_events', 'audit_index', 'audit_subjects'"))
        op.execute(
            "CREATE TRIGGER audit_subjects_append_only BEFORE UPDATE OR DELETE ON audit_subjects "
            "FOR EACH ROW EXECUTE FUNCTION tabard_audit_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_subjects_no_truncate BEFORE TRUNCATE ON audit_subjects "
            "FOR EACH STATEMENT EXECUTE FUNCTION tabard_audit_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_subjects_no_truncate ON audit_subjects")
        op.execute("DROP TRIGGER audit_subjects_append_only ON audit_subjects")
        op.execute(_append_only_function("'audit_events', 'audit_index'"))
    op.drop_table("audit_subjects")
