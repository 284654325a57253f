"""Raising flags (DESIGN.md flow 9, docs/appropriate-use.md): the rules of
`policies.appropriate_use` run on each transaction as it is recorded (by its device's policy)
and over the last weeks every night (by the fleet's policy, which is when the volume rules,
needing history, can run, and when a directory change reaches transactions already made).

Only transactions the server let through are judged: one it refused (its outcome
`refused:<code>`, mdm_server/secure/transactions.py) consulted nothing and disclosed nothing,
so it raises no flag, neither as it is recorded nor at night.

A flag is one per rule, officer and subject (or day); new evidence joins the flag it supports,
and reopens it if it had been dismissed. Every flag raised or changed is an audit event. Its
evidence is the audit event ids of the transactions, which the reviewer reads from the log
itself. Never commits."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from mdm_server.appropriate_use.models import (
    DirectoryEntry,
    EntryKind,
    Flag,
    FlagNote,
    FlagStatus,
    RosterShift,
)
from mdm_server.audit import repository as audit_repository
from mdm_server.audit.models import AuditIndex
from mdm_server.audit.service import Actor, record
from mdm_server.auth.models import StaffUser
from mdm_server.policies.resolution import resolve_fleet
from policies import appropriate_use as rules
from policies.appropriate_use import Directory, Officer, Transaction

RULES_ACTOR = Actor.system("appropriate_use")
SCAN_DAYS = 28
_RULES = "appropriate_use.rules."
_VOLUME_RULES = _RULES + "volume_"
_SHIFT_REACH = timedelta(days=2)  # longer than any shift plus the largest grace
_JUDGED_DEVICE = ("non_compliant",)
REFUSED = "refused:"  # the outcome of a transaction the server refused, before its code
RecordedTransaction = tuple[uuid.UUID, datetime, Mapping[str, Any]]  # event id, time, detail


def refused(outcome: object) -> bool:
    """Whether a transaction's recorded outcome says the server refused it (so it was never
    answered)."""
    return isinstance(outcome, str) and outcome.startswith(REFUSED)


def _judged(events: Iterable[RecordedTransaction]) -> list[Transaction]:
    """The rules' view of the transactions they judge: those an officer made and the server
    did not refuse."""
    transactions = [
        transaction_of(str(event_id), at, detail)
        for event_id, at, detail in events
        if not refused(detail.get("outcome"))
    ]
    return [tx for tx in transactions if tx.officer]


def transaction_of(event_id: str, at: datetime, detail: Mapping[str, Any]) -> Transaction:
    """The rules' view of a recorded transaction, from its audit event."""
    compliance = detail.get("device_compliance")
    return Transaction(
        id=event_id,
        officer=str(detail.get("collar_number") or ""),
        at=at,
        type=str(detail.get("type") or ""),
        purpose=detail.get("purpose"),
        incident_reference=detail.get("incident_reference"),
        subjects=tuple(detail.get("subject_keys") or ()),
        device_compliant=None if compliance is None else compliance not in _JUDGED_DEVICE,
    )


def directory(
    session: Session,
    *,
    officers: Iterable[str],
    subjects: Iterable[str] | None = None,
    around: tuple[datetime, datetime] | None = None,
) -> tuple[Directory, dict[str, str]]:
    """What the rules know about these officers and subjects (all subjects when None), with
    the shifts near `around` (all when None), in terms of each entry's identity key; and each
    matching key's identity. An officer with no roster at all is not judged by the
    outside-shift rule; one with a roster and no shift near is off shift."""
    wanted = set(officers)
    entries = select(DirectoryEntry)
    if subjects is not None:
        entries = entries.where(col(DirectoryEntry.subject).in_(sorted(set(subjects))))
    own: dict[str, set[str]] = defaultdict(set)
    associations: dict[str, set[str]] = defaultdict(set)
    protected: set[str] = set()
    aliases: dict[str, str] = {}
    for entry in session.execute(entries).scalars():
        aliases[entry.subject] = entry.identity
        if entry.kind == EntryKind.protected:
            protected.add(entry.identity)
        elif entry.officer is not None:
            wanted.add(entry.officer)
            target = own if entry.kind == EntryKind.own else associations
            target[entry.officer].add(entry.identity)
    rostered = set(
        session.execute(
            select(col(RosterShift.officer))
            .where(col(RosterShift.officer).in_(sorted(wanted)))
            .distinct()
        ).scalars()
    )
    shifts = select(RosterShift).where(col(RosterShift.officer).in_(sorted(rostered)))
    if around is not None:
        shifts = shifts.where(
            col(RosterShift.ends_at) >= around[0] - _SHIFT_REACH,
            col(RosterShift.starts_at) <= around[1] + _SHIFT_REACH,
        )
    rosters: dict[str, list[tuple[datetime, datetime]]] = {name: [] for name in rostered}
    for shift in session.execute(shifts).scalars():
        rosters[shift.officer].append((shift.starts_at, shift.ends_at))
    divisions = dict(
        session.execute(
            select(col(StaffUser.collar_number), col(StaffUser.division)).where(
                col(StaffUser.collar_number).in_(sorted(wanted))
            )
        ).all()
    )
    known = Directory(
        officers={
            name: Officer(
                id=name,
                division=divisions.get(name),
                own_subjects=frozenset(own.get(name, ())),
                associations=frozenset(associations.get(name, ())),
                shifts=tuple(rosters[name]) if name in rosters else None,
            )
            for name in wanted
        },
        protected=frozenset(protected),
    )
    return known, aliases


def _as_identities(transaction: Transaction, aliases: Mapping[str, str]) -> Transaction:
    """The transaction with each subject key a directory entry knows replaced by the entry's
    identity, each once."""
    subjects = sorted({aliases.get(key, key) for key in transaction.subjects})
    return replace(transaction, subjects=tuple(subjects))


def judge(
    session: Session, *, settings: Mapping[str, Any], event: RecordedTransaction, now: datetime
) -> list[Flag]:
    """The rules that need no history, over one transaction just recorded."""
    without_volume = {
        name: value for name, value in settings.items() if not name.startswith(_VOLUME_RULES)
    }
    judged = _judged([event])
    if not judged or not any(
        value for name, value in without_volume.items() if name.startswith(_RULES)
    ):
        return []  # refused, or no rule to run: spare the transaction the directory's queries
    (transaction,) = judged
    known, aliases = directory(
        session,
        officers=[transaction.officer],
        subjects=transaction.subjects,
        around=(transaction.at, transaction.at),
    )
    identified = [_as_identities(transaction, aliases)]
    return raise_flags(session, rules.review(without_volume, identified, known), now=now)


def raise_flags(session: Session, found: Iterable[rules.Flag], *, now: datetime) -> list[Flag]:
    """Store what the rules found: new flags, or new evidence for flags already raised. The
    flags that changed, each audited."""
    changed: list[Flag] = []
    for lead in found:
        stored = session.execute(
            select(Flag).where(
                col(Flag.rule) == lead.rule,
                col(Flag.officer) == lead.officer,
                col(Flag.key) == lead.key,
            )
        ).scalar_one_or_none()
        if stored is None:
            stored = Flag(
                rule=lead.rule,
                officer=lead.officer,
                key=lead.key,
                score=lead.score,
                evidence=list(lead.evidence),
                detail=dict(lead.detail),
                raised_at=now,
                updated_at=now,
            )
            session.add(stored)
            session.flush()
            _audit(session, "appropriate_use.flag_raised", stored, list(lead.evidence), now)
            changed.append(stored)
            continue
        added = sorted(set(lead.evidence) - set(stored.evidence))
        if not added:
            continue
        stored.evidence = sorted({*stored.evidence, *added})
        stored.score = max(stored.score, lead.score)
        stored.detail = dict(lead.detail)
        stored.updated_at = now
        if stored.status == FlagStatus.dismissed:
            session.add(
                FlagNote(
                    flag_id=stored.id,
                    at=now,
                    author="appropriate_use",
                    status_from=FlagStatus.dismissed,
                    status_to=FlagStatus.open,
                    note=f"reopened: {len(added)} more transaction(s) since it was dismissed",
                )
            )
            stored.status = FlagStatus.open
        session.add(stored)
        _audit(session, "appropriate_use.flag_updated", stored, added, now)
        changed.append(stored)
    return changed


def _audit(session: Session, action: str, flag: Flag, evidence: list[str], now: datetime) -> None:
    record(
        session,
        actor=RULES_ACTOR,
        action=action,
        now=now,
        target_type="flag",
        target_id=flag.id,
        detail={
            "rule": flag.rule,
            "collar_number": flag.officer,
            "key": flag.key,
            "evidence": evidence,
            "score": f"{flag.score:.3f}",
            "status": flag.status,
        },
    )


def scan(
    session: Session,
    *,
    settings: Mapping[str, Any],
    events: Iterable[RecordedTransaction],
    now: datetime,
) -> list[Flag]:
    """Every rule over these transaction events (event id, time, detail) together."""
    transactions = _judged(events)
    known, aliases = directory(session, officers={tx.officer for tx in transactions})
    judged = [_as_identities(tx, aliases) for tx in transactions]
    return raise_flags(session, rules.review(settings, judged, known), now=now)


def review_recent(session: Session, *, now: datetime, days: int = SCAN_DAYS) -> list[Flag]:
    """The nightly review: every rule, by the fleet's policy, over the transactions of the last
    `days` days."""
    seqs = list(
        session.execute(
            select(col(AuditIndex.seq)).where(
                col(AuditIndex.action).startswith("transaction."),
                col(AuditIndex.occurred_at) >= now - timedelta(days=days),
            )
        ).scalars()
    )
    texts = audit_repository.canonical_texts(session, seqs)
    events = []
    for seq in seqs:
        document = json.loads(texts[seq])
        at = datetime.fromisoformat(document["time"].replace("Z", "+00:00"))
        events.append((uuid.UUID(document["id"]), at, document.get("detail") or {}))
    return scan(session, settings=resolve_fleet(session).settings, events=events, now=now)
