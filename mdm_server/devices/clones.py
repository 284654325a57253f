"""Cloned devices (docs/device-protocol.md §7.1). One device key never signs two different
events under the same sequence number: its agent numbers events from one durable counter. When
the server holds such a pair, a copy of the device's state (a cloned or restored phone) is in
use, and both copies hold the key, so the server cannot tell which one is the officer's. It
keeps the events of both (the later copy renumbers its own), flags the device, shuts its secure
side, and writes the divergence to the audit log with the device's own signature as evidence.
Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.devices.models import Device
from mdm_server.devices.schemas import EventConflict

CLONE_DETECTED = "device.clone_detected"
MAX_LISTED = 50  # conflicts named one by one in the audit event; the count says the rest


def conflicts_found(
    session: Session,
    *,
    device_id: uuid.UUID,
    conflicts: list[EventConflict],
    held_by: dict[int, uuid.UUID],
    signed: dict[uuid.UUID, str],
    actor: Actor,
    now: datetime,
) -> None:
    """Flag the device as cloned (the first time) and audit this batch's conflicts: each
    conflicting event with the event already holding its number, and the device's signature
    over the first, which beside the held event's own (in its `device_event.*` entry) proves
    that two different events were signed under one number by the one key."""
    device = session.get(Device, device_id)
    assert device is not None  # an authenticated device exists
    first = device.cloned_at is None
    if first:
        device.cloned_at = now
        session.add(device)
    assert device.cloned_at is not None
    listed = conflicts[:MAX_LISTED]
    record(
        session,
        actor=actor,
        action=CLONE_DETECTED,
        now=now,
        target_type="device",
        target_id=device_id,
        detail={
            "serial": device.serial,
            "first_detection": first,
            "cloned_at": device.cloned_at.isoformat(),
            "conflict_count": len(conflicts),
            "conflicts": [
                {
                    "seq": conflict.seq,
                    "event_id": str(conflict.event_id),
                    "held_by_event_id": str(held_by[conflict.seq]),
                }
                for conflict in listed
            ],
            "signed": signed[listed[0].event_id],  # the device's signature over the first
        },
    )
