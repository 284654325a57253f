"""The demand view's queries: a division's transactions counted by hour in the database, and
its active devices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlmodel import Session, col

from mdm_server.audit.models import AuditIndex
from mdm_server.auth.models import StaffUser
from mdm_server.devices.models import Device, DeviceState

HOUR_KEY = "%Y-%m-%d %H"
DAY_KEY = "%Y-%m-%d"
# SQLite holds naive UTC as text, `YYYY-MM-DD HH:MM:SS...` (mdm_server/types.py): an hour or
# a day is a prefix of it, far cheaper per row than strftime. PostgreSQL holds a timestamptz.
PREFIX = {False: 13, True: 10}
PG_UNITS = {False: "hour", True: "day"}  # date_trunc, far cheaper per row than to_char
ANSWERED = "answered"


@dataclass(frozen=True)
class HourCount:
    """How many transactions of one type, purpose and outcome began in one hour (or day,
    UTC)."""

    hour: datetime
    type: str
    purpose: str | None
    outcome: str | None
    count: int


def _bucket(dialect: str, *, daily: bool) -> ColumnElement[Any]:
    """The hour (or day) an event occurred in, in UTC, worked out by the database: on
    PostgreSQL a timestamp, on SQLite text as `HOUR_KEY` (or `DAY_KEY`)."""
    occurred = col(AuditIndex.occurred_at)
    if dialect == "postgresql":
        return func.date_trunc(PG_UNITS[daily], func.timezone("UTC", occurred))
    return func.substr(occurred, 1, PREFIX[daily])


def _start(key: object) -> datetime:
    if isinstance(key, datetime):
        return key.replace(tzinfo=UTC)
    text = str(key)
    return datetime.strptime(text, DAY_KEY if len(text) == 10 else HOUR_KEY).replace(tzinfo=UTC)


def _transactions(division: str, since: datetime, until: datetime | None) -> list[Any]:
    """The conditions naming a division's transactions in [since, until)."""
    where = [
        col(AuditIndex.division) == division,
        col(AuditIndex.occurred_at) >= since,
        col(AuditIndex.action).startswith("transaction."),
        col(AuditIndex.transaction_type).is_not(None),
    ]
    if until is not None:
        where.append(col(AuditIndex.occurred_at) < until)
    return where


def transactions_by_bucket(
    session: Session,
    *,
    division: str,
    since: datetime,
    until: datetime | None = None,
    daily: bool = False,
) -> list[HourCount]:
    """The division's transactions in [since, until), counted per hour (or per day when
    `daily`), type, purpose and outcome (the audit index's columns: no subject, no name)."""
    bucket = _bucket(session.get_bind().dialect.name, daily=daily).label("bucket")
    kinds = (col(AuditIndex.transaction_type), col(AuditIndex.purpose), col(AuditIndex.outcome))
    rows = session.execute(
        select(bucket, *kinds, func.count())
        .where(*_transactions(division, since, until))
        .group_by(bucket, *kinds)
    ).all()
    return [
        HourCount(
            hour=_start(key),
            type=str(kind),
            purpose=purpose,
            outcome=outcome,
            count=int(count),
        )
        for key, kind, purpose, outcome, count in rows
    ]


def answered_by_hour_of_week(
    session: Session, *, division: str, since: datetime, until: datetime
) -> dict[tuple[int, int], int]:
    """The division's answered transactions in [since, until) by (day of the week, Monday
    = 0; hour of the day), in UTC: counted per hour by the database, folded into the week
    here (a few hundred rows)."""
    hour = _bucket(session.get_bind().dialect.name, daily=False).label("hour")
    rows = session.execute(
        select(hour, func.count())
        .where(*_transactions(division, since, until), col(AuditIndex.outcome) == ANSWERED)
        .group_by(hour)
    ).all()
    counts: dict[tuple[int, int], int] = {}
    for key, count in rows:
        start = _start(key)
        place = (start.weekday(), start.hour)
        counts[place] = counts.get(place, 0) + int(count)
    return counts


def active_devices(
    session: Session, *, division: str
) -> list[tuple[str | None, datetime | None, datetime | None]]:
    """Compliance, last seen and lost time of each active device of the division's officers."""
    rows = session.execute(
        select(col(Device.compliance_status), col(Device.last_seen_at), col(Device.lost_at))
        .join(StaffUser, col(StaffUser.id) == col(Device.officer_id))
        .where(col(StaffUser.division) == division, col(Device.state) == DeviceState.active)
    ).all()
    return [(status, seen, lost) for status, seen, lost in rows]
