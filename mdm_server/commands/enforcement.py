"""What the scheduler does to devices on policy's behalf (DESIGN.md flow 4): it carries out
the enforcement ladder's actions once they fall due, and acts on devices that have stayed
away longer than their policy allows. Never a full wipe: that takes two administrators.
Never commits; each function does one batch and says how much it did.

Ladder actions (`enforcement_actions` rows the compliance evaluation opened):

| action              | carried out as                                               |
|---------------------|--------------------------------------------------------------|
| `notify`            | an audit event (`enforcement.notified`), nothing sent        |
| `block_secure_side` | `lock_secure_side` (the gate already refuses entry)          |
| `lock_device`       | `lock_device`                                                |
| `wipe_secure_side`  | container key destroyed now, and `wipe_secure_side` queued   |

A row stays open after it is carried out, so nothing is sent twice, until the device
recovers and the evaluation supersedes it.

Offline limits, from the device's last check-in (or its enrolment, if it never checked in):
past `secure_side.offline_grace_hours` (but never sooner than two check-in intervals and an
hour, so a missed check-in is not a lock) the secure side is locked; past
`secure_side.offline_crypto_shred_days` its container key is destroyed and a
`wipe_secure_side` queued for the moment it is heard from again. Each is done once per
absence: a device that checks in starts a new one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from mdm_server.audit.service import SCHEDULER, record
from mdm_server.commands import service
from mdm_server.commands.catalogue import KINDS
from mdm_server.commands.models import OPEN_STATES, Command
from mdm_server.commands.wakeups import Wakeups
from mdm_server.devices.models import Device, DeviceState
from mdm_server.policies import repository as policies_repository
from mdm_server.policies.models import ActionState, EnforcementAction
from mdm_server.policies.resolution import resolve_device
from mdm_server.secure import keys

REQUESTER = service.Requester(actor=SCHEDULER, user_id=None)
# The ladder's action -> the command that carries it out (none: audited only).
LADDER_COMMANDS: dict[str, str | None] = {
    "notify": None,
    "block_secure_side": "lock_secure_side",
    "lock_device": "lock_device",
    "wipe_secure_side": "wipe_secure_side",
}
SHREDDING_ACTIONS = {"wipe_secure_side"}
# The least time offline before the secure side is locked, whatever the policy says.
OFFLINE_FLOOR = timedelta(hours=1)


# --- the ladder ------------------------------------------------------------------------------
@dataclass(frozen=True)
class LadderRun:
    carried_out: int
    notified: int


def carry_out_ladder(
    session: Session, *, wakeups: Wakeups, now: datetime, limit: int = 200
) -> LadderRun:
    """Carry out up to `limit` enforcement actions that are due and not yet carried out."""
    query = (
        select(EnforcementAction, Device)
        .join(Device, col(Device.id) == col(EnforcementAction.device_id))
        .where(col(EnforcementAction.state) == ActionState.due)
        .where(col(EnforcementAction.due_at) <= now)
        .where(col(EnforcementAction.carried_out_at).is_(None))
        .where(col(Device.state) == DeviceState.active)
        .order_by(col(EnforcementAction.due_at), col(EnforcementAction.id))
        .limit(limit)
        .with_for_update(of=EnforcementAction)
    )
    carried = notified = 0
    for action, device in session.exec(query).all():
        command = _carry_out(session, action, device, wakeups=wakeups, now=now)
        action.carried_out_at = now
        action.command_id = command.id if command is not None else None
        session.add(action)
        record(
            session,
            actor=SCHEDULER,
            action="enforcement.notified" if command is None else "enforcement.carried_out",
            now=now,
            target_type="device",
            target_id=device.id,
            detail={
                "action": action.action,
                "severity": action.severity,
                "rules": action.rules,
                "due_at": action.due_at.isoformat(),
                "command_id": str(command.id) if command is not None else None,
            },
        )
        notified += command is None
        carried += command is not None
    return LadderRun(carried_out=carried, notified=notified)


def _carry_out(
    session: Session, action: EnforcementAction, device: Device, *, wakeups: Wakeups, now: datetime
) -> Command | None:
    kind = LADDER_COMMANDS.get(action.action)
    if kind is None:
        return None
    reason = f"policy ladder: {action.action} for {', '.join(action.rules)}"
    if action.action in SHREDDING_ACTIONS:
        keys.destroy(session, device_id=device.id, reason=reason, actor=SCHEDULER, now=now)
    return _send(session, device, kind, reason=reason, wakeups=wakeups, now=now)


def _send(
    session: Session, device: Device, kind: str, *, reason: str, wakeups: Wakeups, now: datetime
) -> Command:
    command, _ = service.create_or_reuse(
        session,
        device=device,
        kind=KINDS[kind],
        params={},
        reason=reason,
        requester=REQUESTER,
        wakeups=wakeups,
        now=now,
    )
    return command


# --- offline limits --------------------------------------------------------------------------
@dataclass(frozen=True)
class OfflineRun:
    locked: int
    shredded: int


@dataclass(frozen=True)
class OfflineLimits:
    lock_after: timedelta
    shred_after: timedelta | None


def offline_limits(settings: dict[str, Any], *, checkin_interval: timedelta) -> OfflineLimits:
    """The device's limits from its resolved policy's settings."""
    grace = timedelta(hours=int(settings.get("secure_side.offline_grace_hours") or 0))
    minutes = settings.get("device.checkin_interval_minutes")
    interval = timedelta(minutes=int(minutes)) if minutes else checkin_interval
    shred_days = settings.get("secure_side.offline_crypto_shred_days")
    return OfflineLimits(
        lock_after=max(grace, 2 * interval + OFFLINE_FLOOR),
        shred_after=timedelta(days=int(shred_days)) if shred_days else None,
    )


def enforce_offline_limits(
    session: Session,
    *,
    wakeups: Wakeups,
    checkin_interval: timedelta,
    now: datetime,
    after: uuid.UUID | None = None,
    limit: int = 200,
) -> tuple[OfflineRun, uuid.UUID | None]:
    """Lock, then crypto-shred, up to `limit` active devices (ordered by id, from `after`)
    silent past their policy's limits. Returns what it did and where the next batch starts
    (None when there are no more)."""
    last_heard = func.coalesce(col(Device.last_seen_at), col(Device.enrolled_at))
    query = (
        select(Device)
        .where(col(Device.state) == DeviceState.active)
        .where(last_heard < now - OFFLINE_FLOOR)
        .order_by(col(Device.id))
        .limit(limit)
    )
    if after is not None:
        query = query.where(col(Device.id) > after)
    devices = list(session.exec(query).all())
    epoch = policies_repository.current_epoch(session)  # lets resolutions come from the cache
    locked = shredded = 0
    for device in devices:
        heard = device.last_seen_at or device.enrolled_at
        policy, _ = resolve_device(
            session, device_id=device.id, group=device.group_name, epoch=epoch
        )
        limits = offline_limits(policy.settings, checkin_interval=checkin_interval)
        silent = now - heard
        if limits.shred_after is not None and silent >= limits.shred_after:
            if _shred(session, device, heard=heard, limits=limits, wakeups=wakeups, now=now):
                shredded += 1
        elif silent >= limits.lock_after and not _already_sent(
            session, device.id, "lock_secure_side", heard
        ):
            _offline_event(session, device, "lock_after", limits.lock_after, heard, now)
            _send(
                session,
                device,
                "lock_secure_side",
                reason=f"offline since {heard.isoformat()}, past its policy's limit",
                wakeups=wakeups,
                now=now,
            )
            locked += 1
    next_after = devices[-1].id if len(devices) == limit else None
    return OfflineRun(locked=locked, shredded=shredded), next_after


def _shred(
    session: Session,
    device: Device,
    *,
    heard: datetime,
    limits: OfflineLimits,
    wakeups: Wakeups,
    now: datetime,
) -> bool:
    """Destroy the container key and queue the deletion of the container, once per absence."""
    if _already_sent(session, device.id, "wipe_secure_side", heard):
        return False
    assert limits.shred_after is not None
    reason = f"offline since {heard.isoformat()}, past its policy's crypto-shred limit"
    _offline_event(session, device, "shred_after", limits.shred_after, heard, now)
    keys.destroy(session, device_id=device.id, reason=reason, actor=SCHEDULER, now=now)
    _send(session, device, "wipe_secure_side", reason=reason, wakeups=wakeups, now=now)
    return True


def _already_sent(session: Session, device_id: uuid.UUID, kind: str, since: datetime) -> bool:
    """Whether a command of this kind was queued for the device after it was last heard from,
    or one is still waiting to be carried out (by anyone: IT's own wipe counts)."""
    query = select(Command.id).where(
        col(Command.device_id) == device_id,
        col(Command.type) == kind,
        or_(col(Command.created_at) > since, col(Command.state).in_(OPEN_STATES)),
    )
    return session.exec(query.limit(1)).first() is not None


def _offline_event(
    session: Session,
    device: Device,
    limit: str,
    after: timedelta,
    heard: datetime,
    now: datetime,
) -> None:
    record(
        session,
        actor=SCHEDULER,
        action="device.offline_limit_passed",
        now=now,
        target_type="device",
        target_id=device.id,
        detail={
            "serial": device.serial,
            "limit": limit,
            "after_minutes": int(after.total_seconds() // 60),
            "last_heard": heard.isoformat(),
        },
    )
