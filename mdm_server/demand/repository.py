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
# The same key for a day: its hour is always 00, so both parse alike.
BUCKET_FORMATS = {
    ("sqlite", False): HOUR_KEY,
    ("sqlite", True): "%Y-%m-%d 00",
    ("postgresql", False): "YYYY-MM-DD HH24",
    ("postgresql", True): 'YYYY-MM-DD "00"',
}
# Day of the week and hour: SQLite's %w counts from Sunday = 0, PostgreSQL's ID from Monday = 1.
WEEK_HOUR_FORMATS = {"sqlite": "%w %H", "postgresql": "ID HH24"}
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


def _utc_text(dialect: str, formats: dict[str, str]) -> ColumnElement[str]:
    """When an event occurred, written by the database in one of `formats` (UTC). SQLite
    holds naive UTC (mdm_server/types.py); PostgreSQL a timestamptz."""
    occurred = col(AuditIndex.occurred_at)
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", occurred), formats["postgresql"])
    return func.strftime(formats["sqlite"], occurred)


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
    dialect = session.get_bind().dialect.name
    formats = {name: fmt for (name, days), fmt in BUCKET_FORMATS.items() if days == daily}
    bucket = _utc_text(dialect, formats).label("bucket")
    kinds = (col(AuditIndex.transaction_type), col(AuditIndex.purpose), col(AuditIndex.outcome))
    rows = session.execute(
        select(bucket, *kinds, func.count())
        .where(*_transactions(division, since, until))
        .group_by(bucket, *kinds)
    ).all()
    return [
        HourCount(
            hour=datetime.strptime(key, HOUR_KEY).replace(tzinfo=UTC),
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
    = 0; hour of the day), in UTC."""
    dialect = session.get_bind().dialect.name
    week_hour = _utc_text(dialect, WEEK_HOUR_FORMATS).label("week_hour")
    rows = session.execute(
        select(week_hour, func.count())
        .where(*_transactions(division, since, until), col(AuditIndex.outcome) == ANSWERED)
        .group_by(week_hour)
    ).all()
    counts: dict[tuple[int, int], int] = {}
    for key, count in rows:
        day, hour = (int(part) for part in str(key).split())
        monday_first = (day + 6) % 7 if dialect != "postgresql" else day - 1
        counts[(monday_first, hour)] = int(count)
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
