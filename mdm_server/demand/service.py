"""Counting a division's demand from the audit index and its devices' health.

Transactions are the `transaction.*` events the audit index holds with the officer's
division; nothing here reads a subject or a name, only types, purposes, outcomes and times.
Demand is what was answered: a transaction the server refused (outcome `refused:<code>`) or the
records system did not answer is counted apart, never in a total or in the workload.
Missing-person work is a `missing_person_report`, or any transaction whose purpose code is
MISSING_PERSON; safeguarding work is any transaction whose purpose code begins SAFEGUARD.
The departments' figures (open missing-person cases by risk, referrals waiting and overdue) come
from the records connector, in numbers only.
Buckets run oldest first, so the current hour (or day) is the last. Beside the last 24 hours
stand the same 24 hours a week before, counted only to the same minute, so the hour still
running is compared with as much of its counterpart; the busiest hours are whole weeks of
answered transactions by day of the week and hour of the day."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from sqlmodel import Session

from mdm_server.appropriate_use.flags import refused
from mdm_server.demand import repository
from mdm_server.demand.repository import HourCount
from mdm_server.demand.schemas import (
    Buckets,
    BusiestHours,
    BusyHour,
    Demand,
    Departments,
    DivisionHealth,
    TypeComparison,
    TypeSeries,
    Workload,
)
from mdm_server.missing_persons import service as missing_persons
from mdm_server.missing_persons.connector import MissingPersonsRecords
from mdm_server.safeguarding import service as safeguarding
from mdm_server.safeguarding.connector import SafeguardingRecords
from policies.document import TransactionTypeName

TYPES: tuple[str, ...] = TransactionTypeName.__args__  # type: ignore[attr-defined]
HOUR, DAY, WEEK = timedelta(hours=1), timedelta(days=1), timedelta(weeks=1)
ANSWERED = repository.ANSWERED
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
BUSIEST_WEEKS = 4


def _floor(moment: datetime, step: timedelta) -> datetime:
    if step == DAY:
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def _buckets(counts: Iterable[HourCount], first: datetime, step: timedelta, n: int) -> Buckets:
    answered: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    refusals, unanswered = [0] * n, [0] * n
    for one in counts:
        index = int((_floor(one.hour, step) - first) / step)
        if not 0 <= index < n:
            continue
        if one.outcome == ANSWERED:
            answered[one.type][index] += one.count
        elif refused(one.outcome):
            refusals[index] += one.count
        else:
            unanswered[index] += one.count
    series = [TypeSeries(type=kind, counts=answered[kind]) for kind in TYPES if kind in answered]
    return Buckets(
        starts=[first + step * i for i in range(n)],
        series=series,
        total=sum(sum(one.counts) for one in series),
        refused=refusals,
        refused_total=sum(refusals),
        unanswered=unanswered,
        unanswered_total=sum(unanswered),
    )


def _workload(counts: Iterable[HourCount], first_day: datetime, days: int) -> Workload:
    missing, safeguarding = [0] * days, [0] * days
    for one in counts:
        index = int((_floor(one.hour, DAY) - first_day) / DAY)
        if one.outcome != ANSWERED or not 0 <= index < days:
            continue
        if one.type == "missing_person_report" or one.purpose == "MISSING_PERSON":
            missing[index] += one.count
        if one.purpose is not None and one.purpose.startswith("SAFEGUARD"):
            safeguarding[index] += one.count
    return Workload(
        starts=[first_day + DAY * i for i in range(days)],
        missing_person=missing,
        safeguarding=safeguarding,
    )


def _health(session: Session, division: str, *, now: datetime) -> DivisionHealth:
    rows = repository.active_devices(session, division=division)
    compliance = Counter(status or "not_evaluated" for status, _, _ in rows)
    return DivisionHealth(
        devices=len(rows),
        by_compliance=dict(compliance),
        not_seen_24h=sum(1 for _, seen, _ in rows if seen is None or now - seen > DAY),
        lost=sum(1 for _, _, lost in rows if lost is not None),
    )


def _by_type(now: Buckets, before: Buckets) -> list[TypeComparison]:
    totals = {one.type: sum(one.counts) for one in now.series}
    earlier = {one.type: sum(one.counts) for one in before.series}
    return [
        TypeComparison(
            type=kind, last_24h=totals.get(kind, 0), same_24h_last_week=earlier.get(kind, 0)
        )
        for kind in TYPES
        if kind in totals or kind in earlier
    ]


def _busiest(session: Session, division: str, *, now: datetime) -> BusiestHours:
    until = _floor(now, HOUR)  # the hour still running would read as a quiet one
    since = until - WEEK * BUSIEST_WEEKS
    counts = repository.answered_by_hour_of_week(
        session, division=division, since=since, until=until
    )
    hours = [
        BusyHour(
            hour=hour, **{day: counts.get((number, hour), 0) for number, day in enumerate(DAYS)}
        )
        for hour in range(24)
    ]
    return BusiestHours(
        since=since, until=until, weeks=BUSIEST_WEEKS, hours=hours, total=sum(counts.values())
    )


class DepartmentRecords(MissingPersonsRecords, SafeguardingRecords, Protocol):
    """The records system's department counts (the records connector answers both)."""


def departments(
    session: Session,
    *,
    division: str,
    now: datetime,
    records: DepartmentRecords | None = None,
    triage_hours: int = safeguarding.DEFAULT_TRIAGE_HOURS,
) -> Departments:
    """Open missing-person cases by risk, and referrals waiting and overdue: numbers only.
    The demo connector answers unless another records system is given."""
    by_risk = missing_persons.open_by_risk(session, division=division, connector=records, now=now)
    waiting, overdue = safeguarding.referral_counts(
        session, division=division, now=now, triage_hours=triage_hours, records=records
    )
    return Departments(
        missing_persons_open=by_risk,
        missing_persons_total=sum(by_risk.values()),
        referrals_waiting=waiting,
        referrals_overdue=overdue,
    )


def demand(
    session: Session,
    *,
    division: str,
    days: int,
    now: datetime,
    records: DepartmentRecords | None = None,
    triage_hours: int = safeguarding.DEFAULT_TRIAGE_HOURS,
) -> Demand:
    """The division's answered transactions by type per hour (the last 24 hours, the current
    one last) beside the same hours a week before, and per day (`days`, today last), refused
    and unanswered ones apart; the busiest hours of the last four weeks; its missing-person
    and safeguarding workload and what those departments have open; and its devices'
    health."""
    first_day = _floor(now, DAY) - DAY * (days - 1)
    first_hour = _floor(now, HOUR) - HOUR * 23
    by_hour = repository.transactions_by_bucket(session, division=division, since=first_hour)
    a_week_before = repository.transactions_by_bucket(
        session, division=division, since=first_hour - WEEK, until=now - WEEK
    )
    by_day = repository.transactions_by_bucket(
        session, division=division, since=first_day, daily=True
    )
    hourly = _buckets(by_hour, first_hour, HOUR, 24)
    last_week = _buckets(a_week_before, first_hour - WEEK, HOUR, 24)
    return Demand(
        division=division,
        generated_at=now,
        hourly=hourly,
        last_week=last_week,
        by_type=_by_type(hourly, last_week),
        busiest=_busiest(session, division, now=now),
        daily=_buckets(by_day, first_day, DAY, days),
        workload=_workload(by_day, first_day, days),
        departments=departments(
            session, division=division, now=now, records=records, triage_hours=triage_hours
        ),
        health=_health(session, division, now=now),
    )
