"""The auditors' side of appropriate use: loading the directory the rules read (held only as
subject keys), the flag queue and its review (open, then dismissed or escalated, always with a
note), and the answers officers gave when asked for justification. Every step is an audit
event. Never commits."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlmodel import Session, col

from mdm_server.appropriate_use.models import (
    DirectoryEntry,
    EntryKind,
    Flag,
    FlagNote,
    FlagStatus,
    JustificationRequest,
    RosterShift,
)
from mdm_server.appropriate_use.schemas import DirectoryLoad, Subject
from mdm_server.audit import repository as audit_repository
from mdm_server.audit.models import AuditEvent
from mdm_server.audit.service import Actor, record
from mdm_server.audit.subjects import SubjectKeys
from mdm_server.errors import ConflictError, NotFoundError

# Where a flag may go from each status.
NEXT: dict[str, tuple[str, ...]] = {
    FlagStatus.open: (FlagStatus.dismissed, FlagStatus.escalated),
    FlagStatus.escalated: (FlagStatus.dismissed,),
    FlagStatus.dismissed: (FlagStatus.open,),
}


def _keys(keys: SubjectKeys, subject: Subject) -> list[str]:
    if subject.registration is not None:
        return [keys.vehicle(subject.registration)]
    assert subject.surname is not None
    assert subject.forename is not None
    return keys.known_person(subject.surname, subject.forename, subject.date_of_birth)


def load_directory(
    session: Session, load: DirectoryLoad, *, keys: SubjectKeys, actor: Actor, now: datetime
) -> dict[str, int]:
    """Replace the directory and rosters with `load`; names become keys here and go no
    further. Audited with counts only."""
    entries: set[tuple[str, str | None, str, str]] = set()

    def add(kind: str, collar: str | None, subject: Subject) -> None:
        found = _keys(keys, subject)
        entries.update((kind, collar, key, found[0]) for key in found)

    for collar, officer in load.officers.items():
        for subject in officer.own:
            add(EntryKind.own, collar, subject)
        for subject in officer.associations:
            add(EntryKind.association, collar, subject)
    for subject in load.protected:
        add(EntryKind.protected, None, subject)
    session.execute(delete(DirectoryEntry))
    session.execute(delete(RosterShift))
    for entry in sorted(entries, key=lambda e: (e[0], e[1] or "", e[2])):
        session.add(
            DirectoryEntry(kind=entry[0], officer=entry[1], subject=entry[2], identity=entry[3])
        )
    shifts = 0
    for collar, officer in load.officers.items():
        for shift in officer.shifts:
            session.add(RosterShift(officer=collar, starts_at=shift.start, ends_at=shift.end))
            shifts += 1
    counts = {
        "officers": len(load.officers),
        "own_records": sum(len(o.own) for o in load.officers.values()),
        "associations": sum(len(o.associations) for o in load.officers.values()),
        "protected": len(load.protected),
        "shifts": shifts,
    }
    record(session, actor=actor, action="appropriate_use.directory_loaded", now=now, detail=counts)
    return counts


def queue(
    session: Session,
    *,
    status: str | None,
    officer: str | None,
    rule: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Flag], int]:
    """Flags, highest score first, and how many match in all."""
    statement = select(Flag)
    if status is not None:
        statement = statement.where(col(Flag.status) == status)
    if officer is not None:
        statement = statement.where(col(Flag.officer) == officer)
    if rule is not None:
        statement = statement.where(col(Flag.rule) == rule)
    total = session.execute(select(func.count()).select_from(statement.subquery())).scalar_one()
    page = session.execute(
        statement.order_by(col(Flag.score).desc(), col(Flag.raised_at), col(Flag.id))
        .limit(limit)
        .offset(offset)
    ).scalars()
    return list(page), int(total)


def _flag(session: Session, flag_id: uuid.UUID, *, for_update: bool = False) -> Flag:
    found = session.get(Flag, flag_id, with_for_update=for_update)
    if found is None:
        raise NotFoundError(f"there is no flag {flag_id}")
    return found


def notes(session: Session, flag_id: uuid.UUID) -> list[FlagNote]:
    return list(
        session.execute(
            select(FlagNote).where(col(FlagNote.flag_id) == flag_id).order_by(col(FlagNote.at))
        ).scalars()
    )


def evidence(session: Session, flag: Flag) -> list[dict[str, Any]]:
    """The flag's transactions as the audit log holds them (canonical documents)."""
    ids = [uuid.UUID(value) for value in flag.evidence]
    seqs = [
        int(seq)
        for seq in session.execute(
            select(col(AuditEvent.seq)).where(col(AuditEvent.event_id).in_(ids))
        ).scalars()
    ]
    texts = audit_repository.canonical_texts(session, sorted(seqs))
    return [json.loads(texts[seq]) for seq in sorted(texts)]


def read(
    session: Session, flag_id: uuid.UUID, *, actor: Actor, now: datetime
) -> tuple[Flag, list[FlagNote], list[dict[str, Any]]]:
    """A flag with its notes and evidence; the read is audited (the evidence is personal)."""
    flag = _flag(session, flag_id)
    record(
        session,
        actor=actor,
        action="appropriate_use.flag_read",
        now=now,
        target_type="flag",
        target_id=flag.id,
        detail={"rule": flag.rule, "collar_number": flag.officer},
    )
    return flag, notes(session, flag.id), evidence(session, flag)


def decide(
    session: Session,
    flag_id: uuid.UUID,
    *,
    to: str | None,
    note: str,
    actor: Actor,
    now: datetime,
) -> Flag:
    """Move a flag on (or, with `to` None, add a note to it where it is); audited with the
    note."""
    flag = _flag(session, flag_id, for_update=True)
    before = flag.status
    if to is not None and to not in NEXT[before]:
        allowed = " or ".join(NEXT[before])
        raise ConflictError(
            f"the flag is {before}; from there it can go to {allowed}", code="flag_status"
        )
    after = to or before
    session.add(
        FlagNote(
            flag_id=flag.id,
            at=now,
            author=actor.name or "unknown",
            status_from=before,
            status_to=after,
            note=note,
        )
    )
    flag.status = after
    flag.updated_at = now
    session.add(flag)
    record(
        session,
        actor=actor,
        action="appropriate_use.flag_reviewed" if to is not None else "appropriate_use.flag_noted",
        now=now,
        target_type="flag",
        target_id=flag.id,
        detail={
            "rule": flag.rule,
            "collar_number": flag.officer,
            "from": before,
            "to": after,
            "note": note,
        },
    )
    return flag


def justifications(
    session: Session,
    *,
    officer: str | None,
    answered: bool | None,
    limit: int,
    actor: Actor,
    now: datetime,
) -> list[JustificationRequest]:
    """Justifications asked (and answered), newest first; the read is audited."""
    statement = select(JustificationRequest)
    if officer is not None:
        statement = statement.where(col(JustificationRequest.officer) == officer)
    if answered is not None:
        answered_at = col(JustificationRequest.answered_at)
        statement = statement.where(answered_at.is_not(None) if answered else answered_at.is_(None))
    found = list(
        session.execute(
            statement.order_by(col(JustificationRequest.asked_at).desc()).limit(limit)
        ).scalars()
    )
    filters = {"officer": officer, "answered": answered}
    record(
        session,
        actor=actor,
        action="appropriate_use.justifications_read",
        now=now,
        detail={
            "filters": {name: value for name, value in filters.items() if value is not None},
            "found": len(found),
        },
    )
    return found
