"""Audit queries."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, col

from mdm_server.audit.models import AuditHead

HEAD_ID = 1


def advance_head(session: Session, *, by: int) -> int:
    """Reserve `by` sequence numbers; returns the last one. Locks the head row until commit."""
    statement = (
        update(AuditHead)
        .where(col(AuditHead.id) == HEAD_ID)
        .values(last_seq=col(AuditHead.last_seq) + by)
        .returning(col(AuditHead.last_seq))
    )
    last = session.execute(statement).scalar_one_or_none()
    if last is None:
        raise RuntimeError("audit_head row is missing; run `tabard db upgrade`")
    return int(last)
