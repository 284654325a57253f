"""Auditor search over the audit log (docs/audit.md "Searching"): by officer, device, action,
transaction type, purpose, division, time and subject, newest first, a page at a time, or
exported whole as CSV or JSON. Every search and export is itself an audit event, recorded in
the same unit of work as the read.

Searches read `audit_index` and `audit_subjects` for the sequence numbers, then the events
themselves: what an auditor is shown is always the event's canonical text, the bytes the
Merkle tree proves.

Also here: the query behind an officer's view of their own record (`own_events`), which the
caller narrows to the actions an officer may see (mdm_server/secure/officer_view.py)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlmodel import Session, col

from mdm_server.audit import repository
from mdm_server.audit.canonical import timestamp
from mdm_server.audit.models import AuditEvent, AuditIndex, AuditSubject
from mdm_server.audit.service import Actor, record
from mdm_server.errors import InvalidRequestError

MAX_PAGE = 500
MAX_EXPORT = 50_000
DEVICE_EVENT = "device_event."  # the actions of events from a device's outbox


def device_time(event: dict[str, Any]) -> str | None:
    """When an event from a device's outbox happened, by the device's clock (its detail's
    `occurred_at`); the event's own `time` is when the server received it, which for work done
    offline may be hours later. None for an event the server recorded as it happened."""
    if not str(event.get("action", "")).startswith(DEVICE_EVENT):
        return None
    moment = (event.get("detail") or {}).get("occurred_at")
    return moment if isinstance(moment, str) else None


@dataclass(frozen=True)
class Filters:
    """What an auditor searches by. `subject_keys` are the keys of the subject described in
    `subject` (every key must match: the most detailed one decides)."""

    officer: str | None = None
    device: str | None = None
    action: str | None = None  # exact, or a prefix ending in '*': transaction.*
    transaction_type: str | None = None
    purpose: str | None = None
    division: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    subject: dict[str, str] = field(default_factory=dict)
    subject_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                label = "from" if name == "start" else "to"
                raise InvalidRequestError(f"'{label}' needs a time zone, e.g. 2026-11-21T00:00:00Z")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise InvalidRequestError("'to' must be after 'from'")

    def as_json(self) -> dict[str, Any]:
        """The filters as given, for the audit record of the search (no empty ones)."""
        return {
            name: timestamp(value) if isinstance(value, datetime) else value
            for name, value in asdict(self).items()
            if name != "subject_keys" and value not in (None, {})
        }


def _matching(filters: Filters) -> Select[Any]:
    statement = select(col(AuditIndex.seq))
    equal = {
        AuditIndex.officer: filters.officer,
        AuditIndex.device_id: filters.device,
        AuditIndex.transaction_type: filters.transaction_type,
        AuditIndex.purpose: filters.purpose,
        AuditIndex.division: filters.division,
    }
    for column, value in equal.items():
        if value is not None:
            statement = statement.where(col(column) == value)
    if filters.action is not None:
        if filters.action.endswith("*"):
            prefix = filters.action.removesuffix("*")
            statement = statement.where(col(AuditIndex.action).startswith(prefix, autoescape=True))
        else:
            statement = statement.where(col(AuditIndex.action) == filters.action)
    if filters.start is not None:
        statement = statement.where(col(AuditIndex.occurred_at) >= filters.start)
    if filters.end is not None:
        statement = statement.where(col(AuditIndex.occurred_at) < filters.end)
    if filters.subject_keys:
        # The most detailed key decides; the others are implied by it.
        statement = statement.join(
            AuditSubject, col(AuditSubject.seq) == col(AuditIndex.seq)
        ).where(col(AuditSubject.subject) == filters.subject_keys[-1])
    return statement


@dataclass(frozen=True)
class Page:
    events: list[dict[str, Any]]  # canonical documents, newest first
    next_before: int | None  # pass as `before` for the next page; None on the last


def _documents(session: Session, seqs: list[int]) -> list[dict[str, Any]]:
    texts = repository.canonical_texts(session, seqs)
    missing = [seq for seq in seqs if seq not in texts]
    if missing:
        raise InvalidRequestError(f"audit event {missing[0]} is missing; run `tabard audit verify`")
    return [json.loads(texts[seq]) for seq in seqs]


def search(
    session: Session,
    filters: Filters,
    *,
    limit: int,
    before: int | None,
    actor: Actor,
    now: datetime,
) -> Page:
    """One page of matching events, newest first, below sequence number `before`; audited."""
    statement = _matching(filters)
    if before is not None:
        statement = statement.where(col(AuditIndex.seq) < before)
    statement = statement.order_by(col(AuditIndex.seq).desc()).limit(limit + 1)
    seqs = [int(seq) for seq in session.execute(statement).scalars()]
    more = len(seqs) > limit
    seqs = seqs[:limit]
    events = _documents(session, seqs)
    _audit(session, "audit.searched", filters, len(events), actor, now, before=before)
    return Page(events=events, next_before=seqs[-1] if more else None)


def _own(collar_number: str, user_id: str, actions: Collection[str]) -> list[ColumnElement[bool]]:
    return [
        col(AuditIndex.officer) == collar_number,
        col(AuditIndex.action).in_(sorted(actions)),
        # Never another member of staff's doing, whichever action it is.
        or_(col(AuditEvent.actor_type) != "staff", col(AuditEvent.actor_id) == user_id),
    ]


def own_events(
    session: Session,
    *,
    collar_number: str,
    user_id: str,
    actions: Collection[str],
    limit: int,
    before: uuid.UUID | None,
) -> tuple[list[AuditEvent], bool]:
    """One page of an officer's own events among `actions`, newest first, older than the event
    `before` (itself one of them); and whether older ones remain. Not audited: the caller
    records the read. Paged by event id, never by sequence number: the gaps between an
    officer's sequence numbers would count what others recorded about them."""
    where = _own(collar_number, user_id, actions)
    joined = col(AuditIndex.seq) == col(AuditEvent.seq)
    statement = select(AuditEvent).join(AuditIndex, joined).where(*where)
    if before is not None:
        anchor = session.execute(
            select(col(AuditEvent.seq))
            .join(AuditIndex, joined)
            .where(*where, col(AuditEvent.event_id) == before)
        ).scalar_one_or_none()
        if anchor is None:  # someone else's, or none at all: the same answer
            raise InvalidRequestError(
                f"'before' ({before}) is not an event of your own record; start again from "
                "the first page",
                code="invalid_cursor",
            )
        statement = statement.where(col(AuditIndex.seq) < anchor)
    statement = statement.order_by(col(AuditIndex.seq).desc()).limit(limit + 1)
    found = list(session.execute(statement).scalars())
    return found[:limit], len(found) > limit


def own_session_events(
    session: Session,
    *,
    collar_number: str,
    user_id: str,
    actions: Collection[str],
    session_ids: Collection[str],
) -> list[tuple[str, str, uuid.UUID]]:
    """The officer's own events among `actions` that name one of `session_ids` (a secure
    session's id in their detail): (action, session id, event id) of each."""
    if not session_ids:
        return []
    named = col(AuditEvent.detail)["session_id"].as_string()
    statement = (
        select(col(AuditEvent.action), named, col(AuditEvent.event_id))
        .join(AuditIndex, col(AuditIndex.seq) == col(AuditEvent.seq))
        .where(*_own(collar_number, user_id, actions), named.in_(sorted(session_ids)))
    )
    return [(str(a), str(s), uuid.UUID(str(e))) for a, s, e in session.execute(statement)]


def export(
    session: Session, filters: Filters, *, output: str, actor: Actor, now: datetime
) -> bytes:
    """Every matching event, oldest first, as CSV or JSON; audited. At most MAX_EXPORT."""
    statement = _matching(filters).order_by(col(AuditIndex.seq)).limit(MAX_EXPORT + 1)
    seqs = [int(seq) for seq in session.execute(statement).scalars()]
    if len(seqs) > MAX_EXPORT:
        raise InvalidRequestError(
            f"more than {MAX_EXPORT} events match; narrow the time range or add a filter"
        )
    events = _documents(session, seqs)
    _audit(session, "audit.search_exported", filters, len(events), actor, now, output=output)
    if output == "csv":
        return to_csv(events)
    return (
        json.dumps(
            {"exported_at": timestamp(now), "filters": filters.as_json(), "events": events},
            ensure_ascii=False,
            indent=1,
        )
        + "\n"
    ).encode("utf-8")


def _audit(
    session: Session,
    action: str,
    filters: Filters,
    found: int,
    actor: Actor,
    now: datetime,
    **extra: Any,
) -> None:
    detail: dict[str, Any] = {"filters": filters.as_json(), "found": found}
    detail.update({name: value for name, value in extra.items() if value is not None})
    if filters.subject_keys:  # so a search for a person finds who searched for them
        detail["subject_keys"] = list(filters.subject_keys)
    record(session, actor=actor, action=action, now=now, detail=detail)


CSV_COLUMNS = (
    "seq",
    "time",
    "action",
    "actor_type",
    "actor_id",
    "actor_name",
    "actor_role",
    "officer",
    "division",
    "device_id",
    "transaction_type",
    "purpose",
    "incident_reference",
    "outcome",
    "target_type",
    "target_id",
    "detail",
    "device_time",  # when a device event happened on the device; `time` is its receipt
)


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: a leading =, +, -, @, tab or CR would otherwise
    be read as a formula (OWASP CSV injection), so it gets a leading apostrophe."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_row(event: dict[str, Any]) -> list[str]:
    actor = event.get("actor") or {}
    target = event.get("target") or {}
    detail = event.get("detail") or {}
    values = {
        "seq": event["seq"],
        "time": event["time"],
        "action": event["action"],
        "actor_type": actor.get("type"),
        "actor_id": actor.get("id"),
        "actor_name": actor.get("name"),
        "actor_role": actor.get("role"),
        "officer": detail.get("collar_number"),
        "division": detail.get("division"),
        "device_id": detail.get("device_id"),
        "transaction_type": detail.get("type")
        if event["action"].startswith("transaction.")
        else None,
        "purpose": detail.get("purpose"),
        "incident_reference": detail.get("incident_reference"),
        "outcome": detail.get("outcome"),
        "target_type": target.get("type"),
        "target_id": target.get("id"),
        "detail": detail,
        "device_time": device_time(event),
    }
    return [_cell(values[name] if name != "seq" else str(values[name])) for name in CSV_COLUMNS]


def to_csv(events: Iterable[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_row(event) for event in events)
    return out.getvalue().encode("utf-8")
