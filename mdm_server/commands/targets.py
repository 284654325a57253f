"""Which devices a command goes to: one, a list, a group, or a filter."""

from __future__ import annotations

from sqlmodel import Session

from mdm_server.commands.schemas import CommandTarget
from mdm_server.devices import repository as devices_repository
from mdm_server.devices import service as devices_service
from mdm_server.devices.lookup import find_device
from mdm_server.devices.models import Device, DeviceState
from mdm_server.devices.repository import DeviceFilter
from mdm_server.errors import ConflictError, InvalidRequestError

MAX_TARGETS = 10_000


def select_targets(session: Session, target: CommandTarget) -> list[Device]:
    """The devices a command goes to: active ones only when chosen by group or filter; a device
    named explicitly must be active."""
    if target.device is not None or target.devices is not None:
        names = [target.device] if target.device is not None else list(target.devices or [])
        found = [find_device(session, name) for name in dict.fromkeys(names)]
        inactive = [d.serial for d in found if d.state != DeviceState.active]
        if inactive:
            raise ConflictError(
                f"not active, so it cannot take commands: {', '.join(inactive)}",
                code="device_not_active",
            )
        return found
    if target.group is not None:
        where = DeviceFilter(group=target.group, state=DeviceState.active)
    else:
        selector = target.filter
        assert selector is not None
        officer_id = None
        if selector.officer is not None:
            officer_id = devices_service.officer_by_collar(session, selector.officer).id
        where = DeviceFilter(
            group=selector.group,
            officer_id=officer_id,
            model=selector.model,
            android_version=selector.android_version,
            compliance=selector.compliance,
            last_seen_before=selector.last_seen_before,
            state=DeviceState.active,
        )
    rows, total = devices_repository.list_devices(session, where=where, limit=MAX_TARGETS, offset=0)
    if total > MAX_TARGETS:
        raise InvalidRequestError(
            f"that selects {total} devices; send to at most {MAX_TARGETS} at a time",
            code="too_many_targets",
        )
    if not rows:
        raise InvalidRequestError("no active device matches that target", code="no_targets")
    return [device for device, _ in rows]
