"""An officer reports their own device lost (DESIGN.md flow 4): from any session they hold,
the device's container key is destroyed at once, and the device is told to lock and to delete
its secure side the moment it is next heard from. Its secure side stays shut until IT marks
it found. The device may also report itself lost, from the button on its personal side.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.commands import service
from mdm_server.commands.catalogue import KINDS
from mdm_server.commands.schemas import LostDeviceReport, LostDeviceReported
from mdm_server.commands.wakeups import Wakeups
from mdm_server.devices import repository as devices_repository
from mdm_server.devices.models import Device
from mdm_server.errors import InvalidRequestError, NotFoundError, quoted
from mdm_server.secure import keys
from mdm_server.short_ids import ID_PREFIX

LOST_COMMANDS = ("lock_device", "wipe_secure_side")


def _reported_device(session: Session, user_id: uuid.UUID, report: LostDeviceReport) -> Device:
    mine = devices_repository.active_of_officer(session, user_id)
    if report.device is not None:
        chosen = [d for d in mine if _named(d, report.device)]
        if len(chosen) != 1:
            raise NotFoundError(
                f"no active device {quoted(report.device)} is assigned to you; give its serial or "
                "its id as your device list shows it",
                code="device_not_found",
            )
        return chosen[0]
    if not mine:
        raise NotFoundError("no active device is assigned to you", code="device_not_found")
    if len(mine) > 1:
        raise InvalidRequestError(
            "you hold several devices; say which one: " + ", ".join(d.serial for d in mine),
            code="device_ambiguous",
        )
    return mine[0]


def _named(device: Device, reference: str) -> bool:
    """Whether the officer named this device: its serial, its id, or the start of its id."""
    if reference in (device.serial, str(device.id)):
        return True
    return bool(ID_PREFIX.match(reference)) and str(device.id).startswith(reference.lower())


def report_lost(
    session: Session,
    *,
    user_id: uuid.UUID,
    collar_number: str | None,
    actor: Actor,
    report: LostDeviceReport,
    wakeups: Wakeups,
    now: datetime,
) -> LostDeviceReported:
    """Destroy the device's container key now, and queue a lock and a secure-side wipe."""
    device = _reported_device(session, user_id, report)
    return _reported(
        session,
        device,
        Reporter(actor, user_id, collar_number, "reported lost by its officer"),
        note=report.note,
        wakeups=wakeups,
        now=now,
    )


def report_lost_from_device(
    session: Session,
    *,
    device_id: uuid.UUID,
    actor: Actor,
    note: str | None,
    wakeups: Wakeups,
    now: datetime,
) -> LostDeviceReported:
    """The device reports itself lost (its personal side's button, no PIN): the same as its
    officer's report, recorded as the device's own (only a device in service gets here)."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFoundError("this device is not known to the server", code="device_not_found")
    return _reported(
        session,
        device,
        Reporter(actor, device.officer_id, None, "reported lost from the device"),
        note=note,
        wakeups=wakeups,
        now=now,
    )


@dataclass(frozen=True)
class Reporter:
    actor: Actor
    user_id: uuid.UUID | None
    collar_number: str | None
    reason: str


def _reported(
    session: Session,
    device: Device,
    reporter: Reporter,
    *,
    note: str | None,
    wakeups: Wakeups,
    now: datetime,
) -> LostDeviceReported:
    actor = reporter.actor
    if device.lost_at is None:
        device.lost_at = now
        device.lost_reported_by = actor.name
        session.add(device)
    record(
        session,
        actor=actor,
        action="device.reported_lost",
        now=now,
        target_type="device",
        target_id=device.id,
        detail={"serial": device.serial, "note": note, "collar_number": reporter.collar_number},
    )
    destroyed = keys.destroy(
        session, device_id=device.id, reason="reported lost", actor=actor, now=now
    )
    requester = service.Requester(actor=actor, user_id=reporter.user_id)
    batch_id = uuid.uuid4()
    commands = [
        service.create_or_reuse(
            session,
            device=device,
            kind=KINDS[name],
            params={},
            reason=reporter.reason,
            requester=requester,
            batch_id=batch_id,
            wakeups=wakeups,
            now=now,
        )[0]
        for name in LOST_COMMANDS
    ]
    return LostDeviceReported(
        device_id=device.id,
        container_key_destroyed=destroyed is not None,
        commands=[service.public(c, device.serial) for c in commands],
    )
