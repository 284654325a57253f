"""Every query releases make."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from mdm_server.apps.release_models import AppRelease, AppReleaseDevice, ReleaseState
from mdm_server.auth.models import StaffUser
from mdm_server.commands.models import OPEN_STATES, Command, CommandState
from mdm_server.devices.models import Device, DeviceState

OPEN_RELEASE_STATES = (ReleaseState.running, ReleaseState.halted)
FAILED_STATES = (CommandState.failed, CommandState.expired)


def get(session: Session, release_id: uuid.UUID, *, for_update: bool = False) -> AppRelease | None:
    query = select(AppRelease).where(col(AppRelease.id) == release_id)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def list_releases(session: Session, *, package: str | None, limit: int) -> Sequence[AppRelease]:
    """Releases, newest first."""
    query = select(AppRelease)
    if package is not None:
        query = query.where(col(AppRelease.package) == package)
    return session.exec(query.order_by(col(AppRelease.created_at).desc()).limit(limit)).all()


def open_release(session: Session, package: str) -> AppRelease | None:
    """The app's release that is running or halted, if any (at most one at a time)."""
    query = select(AppRelease).where(
        col(AppRelease.package) == package, col(AppRelease.state).in_(OPEN_RELEASE_STATES)
    )
    return session.exec(query).first()


def previous_version(session: Session, package: str) -> int | None:
    """The version the app's latest release that was not rolled back put out."""
    query = (
        select(AppRelease.version_code)
        .where(col(AppRelease.package) == package)
        .where(col(AppRelease.state) != ReleaseState.rolled_back)
        .order_by(col(AppRelease.created_at).desc())
    )
    return session.exec(query).first()


def population(
    session: Session,
    *,
    devices: Sequence[uuid.UUID] = (),
    groups: Sequence[str] = (),
    divisions: Sequence[str] = (),
    fleet: bool = False,
) -> list[uuid.UUID]:
    """The active devices a stage's target covers."""
    query = select(Device.id).where(col(Device.state) == DeviceState.active)
    if not fleet:
        conditions = []
        if devices:
            conditions.append(col(Device.id).in_(devices))
        if groups:
            conditions.append(col(Device.group_name).in_(groups))
        if divisions:
            officers = select(StaffUser.id).where(col(StaffUser.division).in_(divisions))
            conditions.append(col(Device.officer_id).in_(officers))
        if not conditions:
            return []
        query = query.where(or_(*conditions))
    return list(session.exec(query))


def chosen(session: Session, release_id: uuid.UUID) -> list[AppReleaseDevice]:
    query = select(AppReleaseDevice).where(col(AppReleaseDevice.release_id) == release_id)
    return list(session.exec(query.order_by(col(AppReleaseDevice.chosen_at))))


def chosen_with_commands(
    session: Session, release_id: uuid.UUID
) -> list[tuple[AppReleaseDevice, Device, Command | None, Command | None]]:
    """Each chosen device with its install command and its rollback command, if any."""
    rows = session.exec(
        select(AppReleaseDevice, Device)
        .join(Device, col(Device.id) == col(AppReleaseDevice.device_id))
        .where(col(AppReleaseDevice.release_id) == release_id)
        .order_by(col(AppReleaseDevice.stage), col(Device.serial))
    ).all()
    ids = [i for row, _ in rows for i in (row.command_id, row.rollback_command_id) if i]
    commands = {
        c.id: c for c in session.exec(select(Command).where(col(Command.id).in_(ids))).all()
    }
    return [
        (
            row,
            device,
            commands.get(row.command_id) if row.command_id else None,
            commands.get(row.rollback_command_id) if row.rollback_command_id else None,
        )
        for row, device in rows
    ]


def stage_counts(
    session: Session, release_id: uuid.UUID, stage: int, *, failed_since: datetime | None
) -> tuple[int, int]:
    """How many devices a stage chose, and how many of their installs sent since
    `failed_since` (all, if None) have failed or expired."""
    chosen = select(func.count()).where(
        col(AppReleaseDevice.release_id) == release_id, col(AppReleaseDevice.stage) == stage
    )
    failed = (
        select(func.count())
        .select_from(AppReleaseDevice)
        .join(Command, col(AppReleaseDevice.command_id) == col(Command.id))
        .where(col(AppReleaseDevice.release_id) == release_id)
        .where(col(AppReleaseDevice.stage) == stage)
        .where(col(Command.state).in_(FAILED_STATES))
    )
    if failed_since is not None:
        failed = failed.where(col(Command.created_at) >= failed_since)
    return int(session.exec(chosen).one()), int(session.exec(failed).one())


def open_installs(session: Session, release_id: uuid.UUID) -> int:
    """The release's install commands that have not come to an end."""
    query = (
        select(func.count())
        .select_from(AppReleaseDevice)
        .join(Command, col(AppReleaseDevice.command_id) == col(Command.id))
        .where(col(AppReleaseDevice.release_id) == release_id)
        .where(col(Command.state).in_(OPEN_STATES))
    )
    return int(session.exec(query).one())


def release_of_command(session: Session, command_id: uuid.UUID) -> AppReleaseDevice | None:
    query = select(AppReleaseDevice).where(col(AppReleaseDevice.command_id) == command_id)
    return session.exec(query).first()


def due_to_widen(session: Session, *, now: datetime) -> list[AppRelease]:
    """Running releases that widen on a schedule, for the scheduler to look at."""
    query = select(AppRelease).where(
        col(AppRelease.state) == ReleaseState.running,
        col(AppRelease.widen_every_s).is_not(None),
        col(AppRelease.stage_started_at) <= now,
    )
    return list(session.exec(query.with_for_update()))
