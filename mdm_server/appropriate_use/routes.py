"""Appropriate use over HTTP, for professional standards (auditors): the directory the rules
read, the flag queue and its review, and the justifications officers gave. Every call is
audited (docs/appropriate-use.md)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from sqlmodel import Session, col

from mdm_server.appropriate_use import review
from mdm_server.appropriate_use.models import Flag, FlagNote, JustificationRequest
from mdm_server.appropriate_use.schemas import (
    DirectoryLoad,
    DirectoryLoaded,
    FlagDetail,
    FlagNoteAdd,
    FlagNotePublic,
    FlagPage,
    FlagPublic,
    FlagReview,
    JustificationRecord,
)
from mdm_server.deps import Auditor, ContextDep
from mdm_server.errors import error_responses
from mdm_server.short_ids import resolve_id
from mdm_server.validation import CollarNumber

router = APIRouter(prefix="/api/v1/audit", tags=["appropriate use"])


def _public(flag: Flag) -> FlagPublic:
    return FlagPublic(
        id=flag.id,
        rule=flag.rule,
        officer=flag.officer,
        key=flag.key,
        score=flag.score,
        status=flag.status,
        evidence_count=len(flag.evidence),
        detail=flag.detail,
        raised_at=flag.raised_at,
        updated_at=flag.updated_at,
    )


def _note(note: FlagNote) -> FlagNotePublic:
    return FlagNotePublic(
        at=note.at,
        author=note.author,
        status_from=note.status_from,
        status_to=note.status_to,
        note=note.note,
    )


@router.put("/directory")
def load_directory(body: DirectoryLoad, caller: Auditor, context: ContextDep) -> DirectoryLoaded:
    """Replace what the rules know about people: officers' own records, declared associations
    and shifts, and the protected list. Names become subject keys here; none is stored."""
    with context.database.unit_of_work() as session:
        counts = review.load_directory(
            session, body, keys=context.subject_keys, actor=caller.actor, now=context.clock()
        )
    return DirectoryLoaded(**counts)


@router.get("/flags")
def flag_queue(
    caller: Auditor,
    context: ContextDep,
    status: Annotated[
        Literal["open", "dismissed", "escalated", "all"], Query(description="Default: open.")
    ] = "open",
    officer: Annotated[CollarNumber | None, Query()] = None,
    rule: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> FlagPage:
    """The flags, highest score first (leads for review, never verdicts)."""
    with context.database.unit_of_work(write=False) as session:
        flags, total = review.queue(
            session,
            status=None if status == "all" else status,
            officer=officer,
            rule=rule,
            limit=limit,
            offset=offset,
        )
        return FlagPage(items=[_public(flag) for flag in flags], total=total)


FlagRef = Annotated[
    str, Path(description="The flag id, or its first 4 to 8 characters as lists show them.")
]


def _flag_id(session: Session, reference: str) -> uuid.UUID:
    return resolve_id(session, col(Flag.id), reference, noun="flag")


@router.get("/flags/{flag_id}")
def read_flag(flag_id: FlagRef, caller: Auditor, context: ContextDep) -> FlagDetail:
    """A flag with its notes and the transactions behind it (the read is audited)."""
    with context.database.unit_of_work() as session:
        flag, notes, evidence = review.read(
            session, _flag_id(session, flag_id), actor=caller.actor, now=context.clock()
        )
        return FlagDetail(
            **_public(flag).model_dump(),
            notes=[_note(note) for note in notes],
            evidence=evidence,
        )


@router.post("/flags/{flag_id}/review", responses=error_responses(409))
def review_flag(
    flag_id: FlagRef, body: FlagReview, caller: Auditor, context: ContextDep
) -> FlagPublic:
    """Dismiss or escalate an open flag, dismiss an escalated one, or reopen a dismissed one;
    always with a note (audited)."""
    with context.database.unit_of_work() as session:
        flag = review.decide(
            session,
            _flag_id(session, flag_id),
            to=body.decision,
            note=body.note,
            actor=caller.actor,
            now=context.clock(),
        )
        return _public(flag)


@router.post("/flags/{flag_id}/notes", status_code=201)
def note_flag(
    flag_id: FlagRef, body: FlagNoteAdd, caller: Auditor, context: ContextDep
) -> FlagPublic:
    """Add a note to a flag without moving it (audited)."""
    with context.database.unit_of_work() as session:
        flag = review.decide(
            session,
            _flag_id(session, flag_id),
            to=None,
            note=body.note,
            actor=caller.actor,
            now=context.clock(),
        )
        return _public(flag)


def _justification(asked: JustificationRequest) -> JustificationRecord:
    return JustificationRecord(
        id=asked.id,
        transaction_id=asked.transaction_id,
        transaction_event_id=asked.event_id,
        officer=asked.officer,
        device_id=asked.device_id,
        asked_at=asked.asked_at,
        answered_at=asked.answered_at,
        answer=asked.answer,
    )


@router.get("/justifications")
def justifications(
    caller: Auditor,
    context: ContextDep,
    officer: Annotated[CollarNumber | None, Query()] = None,
    answered: Annotated[bool | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[JustificationRecord]:
    """Transactions drawn in the random sample, newest first, with the officers' answers
    (the read is audited)."""
    with context.database.unit_of_work() as session:
        found = review.justifications(
            session,
            officer=officer,
            answered=answered,
            limit=limit,
            actor=caller.actor,
            now=context.clock(),
        )
        return [_justification(item) for item in found]
