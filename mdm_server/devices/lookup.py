"""Finding a device by the references people type: its id, its serial, or a short id prefix."""

from __future__ import annotations

import re
import uuid

from sqlmodel import Session

from mdm_server.devices import repository
from mdm_server.devices.models import Device
from mdm_server.errors import ConflictError, NotFoundError, quoted

_ID_PREFIX = re.compile(r"^[0-9a-fA-F]{4,8}$")


def find_device(session: Session, reference: str, *, for_update: bool = False) -> Device:
    """A device by id, by serial (its active record, else its latest), or by the first 4 to 8
    characters of its id when they name exactly one device."""
    device = _by_reference(session, reference, for_update=for_update)
    if device is None:
        raise NotFoundError(
            f"no device with id or serial {quoted(reference)}", code="device_not_found"
        )
    return device


def _by_reference(session: Session, reference: str, *, for_update: bool) -> Device | None:
    try:
        device_id = uuid.UUID(reference)
    except ValueError:
        device_id = None
    if device_id is not None:
        return repository.get_device(session, device_id, for_update=for_update)
    device = repository.find_by_serial(session, reference, for_update=for_update)
    if device is not None or not _ID_PREFIX.match(reference):
        return device
    matches = repository.by_id_prefix(session, reference.lower())
    if len(matches) > 1:
        raise ConflictError(
            f"{quoted(reference)} is the start of several device ids; give more of it",
            code="ambiguous_device",
        )
    if not matches:
        return None
    return repository.get_device(session, matches[0].id, for_update=for_update)
