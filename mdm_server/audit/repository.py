"""Audit queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlmodel import Session, col, select

from mdm_server.audit.models import AuditEvent, AuditHead

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


def list_events(
    session: Session,
    *,
    action: str | None = None,
    target_id: str | None = None,
    after_seq: int = 0,
    limit: int = 100,
) -> Sequence[AuditEvent]:
    """Events in sequence order, optionally filtered."""
    query = select(AuditEvent).where(col(AuditEvent.seq) > after_seq)
    if action is not None:
        query = query.where(col(AuditEvent.action) == action)
    if target_id is not None:
        query = query.where(col(AuditEvent.target_id) == target_id)
    return session.exec(query.order_by(col(AuditEvent.seq)).limit(limit)).all()
