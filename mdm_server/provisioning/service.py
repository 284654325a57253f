"""Putting provisioning events on the audit record."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.provisioning.schemas import ProvisioningEvent


def record_events(
    session: Session, *, events: list[ProvisioningEvent], actor: Actor, now: datetime
) -> int:
    """One audit event per provisioning event, `provisioning.<kind>`, with the device serial."""
    for event in events:
        detail = event.model_dump(mode="json", exclude_none=True, exclude={"kind"})
        record(
            session,
            actor=actor,
            action=f"provisioning.{event.kind}",
            now=now,
            target_type="device_serial" if event.serial else None,
            target_id=event.serial,
            detail=detail,
        )
    return len(events)
