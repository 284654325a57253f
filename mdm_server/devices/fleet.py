"""The fleet at a glance: devices counted by state, compliance, last-seen recency, Android
version, security-patch age and model, each by one GROUP BY over the devices table."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import case, func, literal, select
from sqlmodel import Session

from mdm_server.devices.models import Device, DeviceState

_devices = Device.__table__  # type: ignore[attr-defined]

# Recency of the last check-in, newest first: (label, younger than).
RECENCY = (
    ("within an hour", timedelta(hours=1)),
    ("within a day", timedelta(days=1)),
    ("within a week", timedelta(days=7)),
    ("within 30 days", timedelta(days=30)),
)
# Age of the security patch: (label, at most this many days old).
PATCH_AGE = (
    ("under 2 months", 61),
    ("2 to 6 months", 183),
    ("6 to 12 months", 366),
)
COMPLIANCE_ORDER = (
    "compliant",
    "in_grace",
    "incompatible",
    "non_compliant",
    "unknown",
    "not_evaluated",
)


class Count(BaseModel):
    label: str
    devices: int


class FleetSummary(BaseModel):
    """Counts over the active devices (and every device, by state)."""

    generated_at: datetime
    active: int
    lost: int
    by_state: list[Count]
    by_compliance: list[Count]
    by_last_seen: list[Count]
    by_android_version: list[Count]
    by_patch_age: list[Count]
    by_model: list[Count]
    by_group: list[Count]


def _counts(session: Session, label: Any, *, active_only: bool = True) -> list[tuple[Any, int]]:
    query = select(label.label("label"), func.count().label("n")).select_from(_devices)
    if active_only:
        query = query.where(_devices.c.state == DeviceState.active)
    rows = session.execute(query.group_by(label)).all()
    return [(row[0], int(row[1])) for row in rows]


def _ordered(found: list[tuple[Any, int]], order: tuple[str, ...]) -> list[Count]:
    by_label = {str(label): n for label, n in found}
    return [Count(label=label, devices=by_label[label]) for label in order if label in by_label]


def _by_size(found: list[tuple[Any, int]], *, limit: int = 12) -> list[Count]:
    ranked = sorted(found, key=lambda item: (-item[1], str(item[0])))
    return [Count(label=str(label), devices=n) for label, n in ranked[:limit]]


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


def summary(session: Session, *, now: datetime) -> FleetSummary:
    """Every count the fleet overview shows."""
    seen = _devices.c.last_seen_at
    recency = case(
        *[(seen >= now - age, literal(label)) for label, age in RECENCY],
        (seen.is_(None), literal("never")),
        else_=literal("over 30 days ago"),
    )
    today: date = now.date()
    patch = _devices.c.security_patch
    patch_age = case(
        (patch.is_(None), literal("unknown")),
        *[(patch >= today - timedelta(days=days), literal(label)) for label, days in PATCH_AGE],
        else_=literal("over a year"),
    )
    compliance = func.coalesce(_devices.c.compliance_status, literal("not_evaluated"))
    lost = session.execute(
        select(func.count())
        .select_from(_devices)
        .where(_devices.c.state == DeviceState.active, _devices.c.lost_at.is_not(None))
    ).scalar_one()
    states = _counts(session, _devices.c.state, active_only=False)
    versions = _counts(session, _devices.c.android_version)
    return FleetSummary(
        generated_at=now,
        active=sum(n for state, n in states if state == DeviceState.active),
        lost=int(lost),
        by_state=_ordered(states, tuple(DeviceState)),
        by_compliance=_ordered(_counts(session, compliance), COMPLIANCE_ORDER),
        by_last_seen=_ordered(
            _counts(session, recency),
            (*(label for label, _ in RECENCY), "over 30 days ago", "never"),
        ),
        by_android_version=[
            Count(label=str(version), devices=n)
            for version, n in sorted(versions, key=lambda item: _version_key(str(item[0])))
        ],
        by_patch_age=_ordered(
            _counts(session, patch_age),
            (*(label for label, _ in PATCH_AGE), "over a year", "unknown"),
        ),
        by_model=_by_size(_counts(session, _devices.c.model)),
        by_group=_by_size(_counts(session, _devices.c.group_name), limit=20),
    )
