"""`record(...)`: write an audit event in the caller's unit of work.

Events are collected during the transaction and given their sequence numbers just before it
commits, so the audit head's row lock is the last lock any transaction takes (no lock-order
deadlocks) and a rolled-back transaction leaves no gap.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Union

from sqlmodel import Session

from mdm_server import metrics
from mdm_server.audit import merkle, repository, tree
from mdm_server.audit.canonical import check_canonical, encode_checked, require_aware, timestamp
from mdm_server.audit.ids import uuid7
from mdm_server.audit.index import index_row, subject_rows
from mdm_server.db import on_commit

if TYPE_CHECKING:
    from sqlalchemy import Row

CANONICAL_VERSION = 1
_PENDING = "tabard.audit.pending"

ActorType = Literal["staff", "device", "system", "anonymous"]


@dataclass(frozen=True)
class Actor:
    """Who did it, and from where."""

    type: ActorType
    id: str | None = None
    name: str | None = None
    role: str | None = None
    source_ip: str | None = None
    request_id: str | None = None

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(type="system", id=None, name=name, role="system")


SCHEDULER = Actor.system("scheduler")  # the server's scheduled jobs


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    now: datetime,
    target_type: str | None = None,
    target_id: str | uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> uuid.UUID:
    """Add an audit event to this unit of work; it commits with the change it describes."""
    event = PendingEvent(
        seq=0,
        event_id=uuid7(),
        occurred_at=now,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_name=actor.name,
        actor_role=actor.role,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        request_id=actor.request_id,
        source_ip=actor.source_ip,
        detail=dict(detail or {}),
    )
    check_canonical(event.detail)  # refuse a detail with no canonical form now, not at commit
    require_aware(now)  # and a naive time
    session.info.setdefault(_PENDING, []).append(event)
    on_commit(session, _assign_sequence)
    return event.event_id


@dataclass(slots=True)
class PendingEvent:
    """An event recorded in this unit of work, numbered and written just before it commits."""

    seq: int
    event_id: uuid.UUID
    occurred_at: datetime
    actor_type: str
    actor_id: str | None
    actor_name: str | None
    actor_role: str | None
    action: str
    target_type: str | None
    target_id: str | None
    request_id: str | None
    source_ip: str | None
    detail: dict[str, Any]
    canonical: str = ""

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


# What canonical_document and the index read: a PendingEvent, or a row of audit_events (its
# columns bear the same names).
EventFields = Union["PendingEvent", "Row[Any]"]


def canonical_document(event: EventFields) -> dict[str, Any]:
    """The JSON object whose canonical bytes are the event's leaf content."""
    return document_at(event, timestamp(event.occurred_at))


def document_at(event: EventFields, time: str) -> dict[str, Any]:
    """canonical_document, with the event's time already in its canonical form (verify reads
    it so from SQLite's text and need not parse and format it again)."""
    return {
        "v": CANONICAL_VERSION,
        "seq": event.seq,
        "id": str(event.event_id),
        "time": time,
        "actor": {
            "type": event.actor_type,
            "id": event.actor_id,
            "name": event.actor_name,
            "role": event.actor_role,
        },
        "action": event.action,
        "target": (
            {"type": event.target_type, "id": event.target_id}
            if event.target_type is not None
            else None
        ),
        "context": {"request_id": event.request_id, "source_ip": event.source_ip},
        "detail": event.detail,
    }


# document_at's object as PostgreSQL builds it from a row of audit_events, as jsonb: verify has
# the database compare it with the stored canonical text. Change the two together;
# tests/audit/test_verify_in_database.py holds them to the same values.
DOCUMENT_JSONB = f"""jsonb_build_object(
    'v', {CANONICAL_VERSION},
    'seq', seq,
    'id', CAST(event_id AS text),
    'time', to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'actor', jsonb_build_object(
        'type', actor_type, 'id', actor_id, 'name', actor_name, 'role', actor_role),
    'action', action,
    'target', CASE WHEN target_type IS NOT NULL
        THEN jsonb_build_object('type', target_type, 'id', target_id) END,
    'context', jsonb_build_object('request_id', request_id, 'source_ip', source_ip),
    'detail', detail)"""


def _assign_sequence(session: Session) -> None:
    pending: list[PendingEvent] = session.info.pop(_PENDING, [])
    if not pending:
        return
    metrics.AUDIT_EVENTS.inc(len(pending))
    last = repository.advance_head(session, by=len(pending))
    first = last - len(pending) + 1
    leaves: list[bytes] = []
    for offset, event in enumerate(pending):
        event.seq = first + offset
        data = encode_checked(canonical_document(event))
        event.canonical = data.decode("utf-8")
        leaves.append(merkle.leaf_hash(data))
    repository.insert_events(session, [event.row() for event in pending])
    tree.append(session, first=first - 1, leaves=leaves)  # leaf index = seq - 1
    repository.insert_index(session, [index_row(event) for event in pending])
    repository.insert_subjects(session, [row for event in pending for row in subject_rows(event)])
