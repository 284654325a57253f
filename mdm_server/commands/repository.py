"""Queries over commands."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from mdm_server.commands.models import OPEN_STATES, Command, CommandState
from mdm_server.devices.models import Device


def get(session: Session, command_id: uuid.UUID, *, for_update: bool = False) -> Command | None:
    query = select(Command).where(col(Command.id) == command_id)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def by_idempotency_key(session: Session, requested_by_id: uuid.UUID, key: str) -> list[Command]:
    query = (
        select(Command)
        .where(col(Command.requested_by_id) == requested_by_id)
        .where(col(Command.idempotency_key) == key)
    )
    return list(session.exec(query).all())


def batch(session: Session, batch_id: uuid.UUID) -> list[Command]:
    query = select(Command).where(col(Command.batch_id) == batch_id)
    return list(session.exec(query.order_by(col(Command.created_at), col(Command.device_id))))


def next_device_seq(session: Session, device_id: uuid.UUID) -> int:
    """The next number in the device's command order. Locks the device's row first, so two
    transactions queuing for one device (a group send beside a single one) take turns."""
    session.exec(select(Device.id).where(col(Device.id) == device_id).with_for_update()).one()
    query = select(func.max(Command.device_seq)).where(col(Command.device_id) == device_id)
    return int(session.exec(query).one() or 0) + 1


def open_like(
    session: Session, device_id: uuid.UUID, type_: str, params: dict[str, Any]
) -> Command | None:
    """An open command of this type for the device, with these parameters."""
    query = select(Command).where(
        col(Command.device_id) == device_id,
        col(Command.type) == type_,
        col(Command.state).in_(OPEN_STATES),
    )
    return next((c for c in session.exec(query) if c.params == params), None)


def open_of_device(
    session: Session, device_id: uuid.UUID, *, for_update: bool = False
) -> list[Command]:
    query = select(Command).where(
        col(Command.device_id) == device_id, col(Command.state).in_(OPEN_STATES)
    )
    if for_update:
        query = query.with_for_update()
    return list(session.exec(query.order_by(col(Command.device_seq))))


def deliverable(session: Session, device_id: uuid.UUID, *, now: datetime) -> list[Command]:
    """The device's commands to send now, in its order: queued ones, and delivered ones whose
    last envelope has expired without a receipt."""
    query = (
        select(Command)
        .where(col(Command.device_id) == device_id)
        .where(
            or_(
                col(Command.state) == CommandState.queued,
                (col(Command.state) == CommandState.delivered)
                & (col(Command.envelope_expires_at) <= now),
            )
        )
        .where(col(Command.not_before) <= now)
        .where(or_(col(Command.expires_at).is_(None), col(Command.expires_at) > now))
        .order_by(col(Command.device_seq))
        .with_for_update()
    )
    return list(session.exec(query))


def expiring(session: Session, *, now: datetime, limit: int) -> list[Command]:
    """Open commands whose time to live has run out."""
    query = (
        select(Command)
        .where(col(Command.state).in_(OPEN_STATES))
        .where(col(Command.expires_at).is_not(None))
        .where(col(Command.expires_at) <= now)
        .order_by(col(Command.expires_at))
        .limit(limit)
        .with_for_update()
    )
    return list(session.exec(query))


@dataclass(frozen=True)
class CommandFilter:
    device_id: uuid.UUID | None = None
    state: str | None = None
    type: str | None = None
    batch_id: uuid.UUID | None = None


def list_commands(
    session: Session, *, where: CommandFilter, limit: int, offset: int
) -> tuple[list[tuple[Command, str]], int]:
    """A page of commands with their devices' serials, newest first, and the total."""
    conditions = []
    if where.device_id is not None:
        conditions.append(col(Command.device_id) == where.device_id)
    if where.state is not None:
        conditions.append(col(Command.state) == where.state)
    if where.type is not None:
        conditions.append(col(Command.type) == where.type)
    if where.batch_id is not None:
        conditions.append(col(Command.batch_id) == where.batch_id)
    total = session.exec(select(func.count()).select_from(Command).where(*conditions)).one()
    query = (
        select(Command, Device.serial)
        .join(Device, col(Device.id) == col(Command.device_id))
        .where(*conditions)
        .order_by(col(Command.created_at).desc(), col(Command.device_seq).desc())
        .limit(limit)
        .offset(offset)
    )
    return [(command, serial) for command, serial in session.exec(query)], int(total)


def serials(session: Session, device_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not device_ids:
        return {}
    query = select(Device.id, Device.serial).where(col(Device.id).in_(set(device_ids)))
    return {device_id: serial for device_id, serial in session.exec(query)}
