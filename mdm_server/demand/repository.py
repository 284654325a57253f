"""The demand view's queries: a division's transactions counted by hour in the database, and
its active devices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, select
from sqlmodel import Session, col

from mdm_server.audit.models import AuditIndex
from mdm_server.auth.models import StaffUser
from mdm_server.devices.models import Device, DeviceState

HOUR_KEY = "%Y-%m-%d %H"


@dataclass(frozen=True)
class HourCount:
    """How many transactions of one type, purpose and outcome began in one hour (UTC)."""

    hour: datetime
    type: str
    purpose: str | None
    outcome: str | None
    count: int


def _hour_key(dialect: str) -> ColumnElement[str]:
    """The hour an event occurred in, as `YYYY-MM-DD HH` (UTC), worked out by the database.
    SQLite holds naive UTC (mdm_server/types.py); PostgreSQL a timestamptz."""
    occurred = col(AuditIndex.occurred_at)
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", occurred), "YYYY-MM-DD HH24")
    return func.strftime(HOUR_KEY, occurred)


def transactions_by_hour(session: Session, *, division: str, since: datetime) -> list[HourCount]:
    """The division's transactions since `since`, counted per hour, type, purpose and
    outcome (the audit index's columns: no subject, no name)."""
    hour = _hour_key(session.get_bind().dialect.name).label("hour")
    rows = session.execute(
        select(
            hour,
            col(AuditIndex.transaction_type),
            col(AuditIndex.purpose),
            col(AuditIndex.outcome),
            func.count(),
        )
        .where(
            col(AuditIndex.division) == division,
            col(AuditIndex.transaction_type).is_not(None),
            col(AuditIndex.occurred_at) >= since,
            col(AuditIndex.action).startswith("transaction."),
        )
        .group_by(
            hour,
            col(AuditIndex.transaction_type),
            col(AuditIndex.purpose),
            col(AuditIndex.outcome),
        )
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
