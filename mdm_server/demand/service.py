"""Counting a division's demand from the audit index and its devices' health.

Transactions are the `transaction.*` events the audit index holds with the officer's
division; nothing here reads a subject or a name, only types, purposes and times.
Missing-person work is a `missing_person_report`, or any transaction whose purpose code is
MISSING_PERSON; safeguarding work is any transaction whose purpose code begins SAFEGUARD."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from mdm_server.audit.models import AuditIndex
from mdm_server.auth.models import StaffUser
from mdm_server.demand.schemas import Buckets, Demand, DivisionHealth, TypeSeries, Workload
from mdm_server.devices.models import Device, DeviceState
from policies.document import TransactionTypeName

TYPES: tuple[str, ...] = TransactionTypeName.__args__  # type: ignore[attr-defined]
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def _floor(moment: datetime, step: timedelta) -> datetime:
    if step == DAY:
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def _buckets(rows: list[tuple[datetime, str]], first: datetime, step: timedelta, n: int) -> Buckets:
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    for occurred_at, kind in rows:
        index = int((occurred_at - first) / step)
        if 0 <= index < n:
            counts[kind][index] += 1
    series = [TypeSeries(type=kind, counts=counts[kind]) for kind in TYPES if kind in counts]
    return Buckets(
        starts=[first + step * i for i in range(n)],
        series=series,
        total=sum(sum(one.counts) for one in series),
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
    """The division's transactions by type per hour (24 h) and per day (`days`), its
    missing-person and safeguarding workload, and its devices' health."""
    first_day = _floor(now, DAY) - DAY * (days - 1)
    first_hour = _floor(now, HOUR) - HOUR * 23
    since = min(first_day, first_hour)
    rows = session.execute(
        select(
            col(AuditIndex.occurred_at), col(AuditIndex.transaction_type), col(AuditIndex.purpose)
        ).where(
            col(AuditIndex.division) == division,
            col(AuditIndex.transaction_type).is_not(None),
            col(AuditIndex.occurred_at) >= since,
            col(AuditIndex.action).startswith("transaction."),
        )
    ).all()
    typed = [(occurred_at, str(kind)) for occurred_at, kind, _ in rows]
    missing = [0] * days
    safeguarding = [0] * days
    for occurred_at, kind, purpose in rows:
        index = int((occurred_at - first_day) / DAY)
        if not 0 <= index < days:
            continue
        if kind == "missing_person_report" or purpose == "MISSING_PERSON":
            missing[index] += 1
        if purpose is not None and purpose.startswith("SAFEGUARD"):
            safeguarding[index] += 1
    return Demand(
        division=division,
        generated_at=now,
        hourly=_buckets(typed, first_hour, HOUR, 24),
        daily=_buckets(typed, first_day, DAY, days),
        workload=Workload(
            starts=[first_day + DAY * i for i in range(days)],
            missing_person=missing,
            safeguarding=safeguarding,
        ),
        health=_health(session, division, now=now),
    )
