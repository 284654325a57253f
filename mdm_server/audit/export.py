"""Choosing events for an evidential bundle and proving each one (docs/audit.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session, col

from mdm_server.audit import bundle, checkpoints, merkle, repository
from mdm_server.audit.canonical import timestamp
from mdm_server.audit.models import AuditCheckpoint, AuditIndex
from mdm_server.audit.notes import NoteError, NoteSigner
from mdm_server.audit.service import Actor, record
from mdm_server.errors import InvalidRequestError

MAX_EVENTS = 50_000


@dataclass(frozen=True)
class ExportQuery:
    start: datetime
    end: datetime
    officer: str | None = None  # collar number
    device: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {
            "from": timestamp(self.start),
            "to": timestamp(self.end),
            "officer": self.officer,
            "device": self.device,
        }


def _seqs(session: Session, query: ExportQuery) -> list[int]:
    statement = (
        select(col(AuditIndex.seq))
        .where(col(AuditIndex.occurred_at) >= query.start, col(AuditIndex.occurred_at) < query.end)
        .order_by(col(AuditIndex.seq))
        .limit(MAX_EVENTS + 1)
    )
    if query.officer is not None:
        statement = statement.where(col(AuditIndex.officer) == query.officer)
    if query.device is not None:
        statement = statement.where(col(AuditIndex.device_id) == query.device)
    return [int(seq) for seq in session.execute(statement).scalars()]


def _covering(session: Session, size: int, signer: NoteSigner) -> AuditCheckpoint:
    """The earliest checkpoint of at least `size` events that `signer`'s key signed (after a
    key change, those before it carry the earlier key only)."""
    verifier = signer.verifier()
    candidates = session.execute(
        select(AuditCheckpoint)
        .where(col(AuditCheckpoint.size) >= max(size, 1))
        .order_by(col(AuditCheckpoint.size))
        .execution_options(yield_per=64)
    ).scalars()
    for candidate in candidates:
        found: AuditCheckpoint = candidate
        try:
            verifier.verify(found.note)
        except NoteError:
            continue
        return found
    raise AssertionError("the latest checkpoint, just signed, covers the whole log")


def export(
    session: Session,
    *,
    query: ExportQuery,
    signer: NoteSigner,
    data_dir: Path,
    actor: Actor,
    now: datetime,
) -> bytes:
    """The bundle of events matching `query`, proven in a signed checkpoint; audited."""
    if query.end <= query.start:
        raise InvalidRequestError("'to' must be after 'from'")
    seqs = _seqs(session, query)
    if len(seqs) > MAX_EVENTS:
        raise InvalidRequestError(
            f"more than {MAX_EVENTS} events match; narrow the time range or name an officer or "
            "device"
        )
    latest = checkpoints.make(session, signer=signer, data_dir=data_dir, now=now).checkpoint
    first = _covering(session, max(seqs, default=latest.size), signer)
    ranges = {seq: merkle.inclusion_ranges(seq - 1, first.size) for seq in seqs}
    consistency = merkle.consistency_ranges(first.size, latest.size)
    wanted = merkle.nodes_for([r for rs in ranges.values() for r in rs] + consistency)
    nodes = repository.read_nodes(session, wanted)
    canonical = {
        seq: text.encode("utf-8") for seq, text in repository.canonical_texts(session, seqs).items()
    }
    missing = [seq for seq in seqs if seq not in canonical]
    if missing:
        raise InvalidRequestError(f"audit event {missing[0]} is missing; run `tabard audit verify`")
    contents = bundle.Contents(
        query=query.as_json(),
        exported_by=actor.name or "unknown",
        exported_at=timestamp(now),
        checkpoint_note=first.note,
        latest_note=latest.note,
        consistency=[merkle.hash_range(a, b, nodes) for a, b in consistency],
        events=[
            (seq, canonical[seq], [merkle.hash_range(a, b, nodes) for a, b in ranges[seq]])
            for seq in seqs
        ],
    )
    record(
        session,
        actor=actor,
        action="audit.exported",
        now=now,
        detail={**query.as_json(), "events": len(seqs), "checkpoint": first.size},
    )
    return bundle.build(contents, signer=signer)
