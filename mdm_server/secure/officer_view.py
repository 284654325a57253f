"""What officers may see of themselves: their devices, the appropriate-use policy they work
under and their acknowledgements of it, and their own recorded usage."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session

from mdm_server.audit import search
from mdm_server.audit.service import Actor
from mdm_server.devices import repository as devices_repository
from mdm_server.secure import gate, repository
from mdm_server.secure.schemas import (
    AcknowledgementPublic,
    MyDevice,
    MyDevices,
    MyPolicyText,
    MyUsage,
)


def my_devices(session: Session, *, user_id: uuid.UUID) -> MyDevices:
    """The officer's active devices, the appropriate-use text of the first one's policy, and
    every acknowledgement the officer has given."""
    devices = devices_repository.active_of_officer(session, user_id)
    policy = None
    if devices:
        ref = devices_repository.device_ref(session, devices[0].id)
        if ref is not None:
            settings = gate.policy_for(session, ref)
            version = settings.get("appropriate_use.policy_text_version")
            if version is not None:
                policy = MyPolicyText(
                    version=str(version),
                    text=str(settings.get("appropriate_use.policy_text") or ""),
                )
    acknowledgements = [
        AcknowledgementPublic.model_validate(row, from_attributes=True)
        for row in repository.acknowledgements_of(session, user_id)
    ]
    acknowledged = {ack.text_version for ack in acknowledgements}
    return MyDevices(
        devices=[
            MyDevice(
                id=device.id,
                serial=device.serial,
                model=device.model,
                android_version=device.android_version,
                state=device.state,
                compliance=device.compliance_status,
                last_seen_at=device.last_seen_at,
                lost_at=device.lost_at,
            )
            for device in devices
        ],
        policy=policy,
        policy_acknowledged=policy is not None and policy.version in acknowledged,
        acknowledgements=acknowledgements,
    )


def my_usage(
    session: Session,
    *,
    collar_number: str | None,
    limit: int,
    before: int | None,
    actor: Actor,
    now: datetime,
) -> MyUsage:
    """The officer's own recorded events, newest first (the read is audited, as any search)."""
    if collar_number is None:
        return MyUsage(events=[], next_before=None)
    page = search.search(
        session,
        search.Filters(officer=collar_number),
        limit=limit,
        before=before,
        actor=actor,
        now=now,
    )
    return MyUsage(events=page.events, next_before=page.next_before)
