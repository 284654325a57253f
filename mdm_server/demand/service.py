"""Counting a division's demand from the audit index and its devices' health.

Transactions are the `transaction.*` events the audit index holds with the officer's
division; nothing here reads a subject or a name, only types, purposes, outcomes and times.
Demand is what was answered: a transaction the server refused (outcome `refused:<code>`) or the
records system did not answer is counted apart, never in a total or in the workload.
Missing-person work is a `missing_person_report`, or any transaction whose purpose code is
MISSING_PERSON; safeguarding work is any transaction whose purpose code begins SAFEGUARD.
Buckets run oldest first, so the current hour (or day) is the last."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from mdm_server.appropriate_use.flags import refused
from mdm_server.audit.models import AuditIndex
from mdm_server.auth.models import StaffUser
from mdm_server.demand.schemas import Buckets, Demand, DivisionHealth, TypeSeries, Workload
from mdm_server.devices.models import Device, DeviceState
from policies.document import TransactionTypeName

TYPES: tuple[str, ...] = TransactionTypeName.__args__  # type: ignore[attr-defined]
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
ANSWERED = "answered"


@dataclass(frozen=True)
class _Row:
    occurred_at: datetime
    type: str
    purpose: str | None
    outcome: str | None


def _floor(moment: datetime, step: timedelta) -> datetime:
    if step == DAY:
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def _buckets(rows: list[_Row], first: datetime, step: timedelta, n: int) -> Buckets:
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    refusals, unanswered = [0] * n, [0] * n
    for row in rows:
        index = int((row.occurred_at - first) / step)
        if not 0 <= index < n:
            continue
        if row.outcome == ANSWERED:
            counts[row.type][index] += 1
        elif refused(row.outcome):
            refusals[index] += 1
        else:
            unanswered[index] += 1
    series = [TypeSeries(type=kind, counts=counts[kind]) for kind in TYPES if kind in counts]
    return Buckets(
        starts=[first + step * i for i in range(n)],
        series=series,
        total=sum(sum(one.counts) for one in series),
        refused=refusals,
        refused_total=sum(refusals),
        unanswered=unanswered,
        unanswered_total=sum(unanswered),
    )


def _workload(rows: list[_Row], first_day: datetime, days: int) -> Workload:
    missing, safeguarding = [0] * days, [0] * days
    for row in rows:
        index = int((row.occurred_at - first_day) / DAY)
        if row.outcome != ANSWERED or not 0 <= index < days:
            continue
        if row.type == "missing_person_report" or row.purpose == "MISSING_PERSON":
            missing[index] += 1
        if row.purpose is not None and row.purpose.startswith("SAFEGUARD"):
            safeguarding[index] += 1
    return Workload(
        starts=[first_day + DAY * i for i in range(days)],
        missing_person=missing,
        safeguarding=safeguarding,
    )


def _health(session: Session, division: str, *, now: datetime) -> DivisionHealth:
    rows = session.execute(
        select(col(Device.compliance_status), col(Device.last_seen_at), col(Device.lost_at))
        .join(StaffUser, col(StaffUser.id) == col(Device.officer_id))
        .where(col(StaffUser.division) == division, col(Device.state) == DeviceState.active)
    ).all()
    compliance = Counter(status or "not_evaluated" for status, _, _ in rows)
    return DivisionHealth(
        devices=len(rows),
        by_compliance=dict(compliance),
        not_seen_24h=sum(1 for _, seen, _ in rows if seen is None or now - seen > DAY),
        lost=sum(1 for _, _, lost in rows if lost is not None),
    )


def demand(session: Session, *, division: str, days: int, now: datetime) -> Demand:
    """The division's answered transactions by type per hour (the last 24 hours, the current
    one last) and per day (`days`, today last), refused and unanswered ones apart, its
    missing-person and safeguarding workload, and its devices' health."""
    first_day = _floor(now, DAY) - DAY * (days - 1)
    first_hour = _floor(now, HOUR) - HOUR * 23
    since = min(first_day, first_hour)
    found = session.execute(
        select(
            col(AuditIndex.occurred_at),
            col(AuditIndex.transaction_type),
            col(AuditIndex.purpose),
            col(AuditIndex.outcome),
        ).where(
            col(AuditIndex.division) == division,
            col(AuditIndex.transaction_type).is_not(None),
            col(AuditIndex.occurred_at) >= since,
            col(AuditIndex.action).startswith("transaction."),
        )
    ).all()
    rows = [_Row(at, str(kind), purpose, outcome) for at, kind, purpose, outcome in found]
    return Demand(
        division=division,
        generated_at=now,
        hourly=_buckets(rows, first_hour, HOUR, 24),
        daily=_buckets(rows, first_day, DAY, days),
        workload=_workload(rows, first_day, days),
        health=_health(session, division, now=now),
    )
