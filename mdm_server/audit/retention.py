"""Retention (docs/audit.md "Retention"): where the force's policy sets how long audit events
are kept (`TABARD_AUDIT_RETENTION_DAYS`), the oldest are deleted, never silently.

Each run first signs a checkpoint, then deletes the events (with their search rows) from the
oldest kept up to the last one older than the cutoff, and in the same transaction records the
deletion as an audit event of its own, `audit.retention_deleted`, carrying a signed note:

    tabard audit retention
    <origin>
    through <seq>
    deleted <count>
    cutoff <time>
    checkpoint <size> <base64 root>

signed with the checkpoint key. The tree's nodes stay, so every checkpoint and every proof of a
kept event still verifies, and `tabard audit verify` accepts the gap below `through` only
because a verified record says retention made it. Retention records are never deleted, nor are
the checkpoint key's change records (mdm_server/audit/handover.py)."""

from __future__ import annotations

import base64
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, delete, func, select, text
from sqlmodel import Session, col

from mdm_server.audit import checkpoints, handover
from mdm_server.audit.canonical import timestamp
from mdm_server.audit.models import AuditEvent, AuditIndex, AuditSubject
from mdm_server.audit.notes import NoteError, NoteOpener, NoteSigner
from mdm_server.audit.service import SCHEDULER, Actor, record

ACTION = "audit.retention_deleted"
BATCH = 100_000  # events per run, so one transaction stays a reasonable size
HEADER = "tabard audit retention"
KEPT = (ACTION, handover.ACTION)  # records the log's own checks rest on: never deleted


@dataclass(frozen=True)
class Deletion:
    through: int  # every event up to here, bar retention records, is deleted
    deleted: int
    cutoff: str
    checkpoint_size: int
    checkpoint_root: bytes

    def body(self, origin: str) -> str:
        root = base64.b64encode(self.checkpoint_root).decode("ascii")
        return (
            f"{HEADER}\n{origin}\nthrough {self.through}\ndeleted {self.deleted}\n"
            f"cutoff {self.cutoff}\ncheckpoint {self.checkpoint_size} {root}\n"
        )


def _deletable() -> Select[Any]:
    """Events retention may delete: all but its own records and the key-change records."""
    return select(col(AuditEvent.seq)).where(col(AuditEvent.action).not_in(KEPT))


def apply(
    session: Session,
    *,
    days: int,
    signer: NoteSigner,
    data_dir: Path,
    now: datetime,
    actor: Actor = SCHEDULER,
) -> Deletion | None:
    """Delete what is older than `days` (at most BATCH events); the deletion record, or None
    when nothing is due."""
    cutoff = now - timedelta(days=days)
    first = session.execute(
        _deletable().order_by(col(AuditEvent.seq)).limit(1)
    ).scalar_one_or_none()
    if first is None:
        return None
    young = session.execute(
        select(func.min(col(AuditIndex.seq))).where(col(AuditIndex.occurred_at) >= cutoff)
    ).scalar_one_or_none()
    made = checkpoints.make(session, signer=signer, data_dir=data_dir, now=now)
    signed = made.checkpoint
    through = min((young - 1) if young is not None else signed.size, signed.size, first + BATCH - 1)
    if through < first:
        return None
    doomed = _deletable().where(col(AuditEvent.seq) <= through)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL tabard.audit_retention = 'on'"))
    session.execute(delete(AuditSubject).where(col(AuditSubject.seq).in_(doomed)))
    session.execute(delete(AuditIndex).where(col(AuditIndex.seq).in_(doomed)))
    deleted = session.execute(select(func.count()).select_from(doomed.subquery())).scalar_one()
    session.execute(
        delete(AuditEvent).where(
            col(AuditEvent.seq) <= through, col(AuditEvent.action).not_in(KEPT)
        )
    )
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL tabard.audit_retention = 'off'"))
    deletion = Deletion(
        through=through,
        deleted=int(deleted),
        cutoff=timestamp(cutoff),
        checkpoint_size=signed.size,
        checkpoint_root=signed.root,
    )
    record(
        session,
        actor=actor,
        action=ACTION,
        now=now,
        detail={
            "through": deletion.through,
            "deleted": deletion.deleted,
            "cutoff": deletion.cutoff,
            "retention_days": days,
            "checkpoint": signed.size,
            "note": signer.sign_text(deletion.body(signer.name)),
        },
    )
    return deletion


def verified_through(session: Session, verifier: NoteOpener) -> tuple[int, list[tuple[int, str]]]:
    """Up to which sequence number verified retention records say events were deleted, and the
    records that fail (their seq, what is wrong)."""
    through = 0
    problems: list[tuple[int, str]] = []
    rows = session.execute(
        select(col(AuditEvent.seq), col(AuditEvent.canonical))
        .join(AuditIndex, col(AuditIndex.seq) == col(AuditEvent.seq))
        .where(col(AuditIndex.action) == ACTION)
        .order_by(col(AuditEvent.seq))
    ).all()
    for seq, canonical in rows:
        detail = json.loads(canonical).get("detail") or {}
        try:
            body = verifier.verify(str(detail.get("note", "")))
        except NoteError as exc:
            problems.append((int(seq), f"retention record {seq}: {exc}"))
            continue
        claimed = body.splitlines()
        expected = f"through {detail.get('through')}"
        if (
            len(claimed) < 3
            or claimed[0] != HEADER
            or not hmac.compare_digest(claimed[2], expected)
        ):
            problems.append((int(seq), f"retention record {seq}: its note and detail differ"))
            continue
        if not 0 < int(detail["through"]) < int(seq):
            problems.append((int(seq), f"retention record {seq}: it claims events after itself"))
            continue
        through = max(through, int(detail["through"]))
    return through, problems
