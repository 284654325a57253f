"""What officers may see of themselves: their devices, the appropriate-use policy they work
under and their acknowledgements of it, and their own recorded actions. Never professional
standards' interest in them (DESIGN.md, "Who must not see")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session

from mdm_server.audit import search
from mdm_server.audit.models import AuditEvent
from mdm_server.audit.service import Actor, record
from mdm_server.devices import repository as devices_repository
from mdm_server.secure import gate, repository
from mdm_server.secure.schemas import (
    AcknowledgementPublic,
    MyDevice,
    MyDevices,
    MyEvent,
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


# Deny by default: the actions an officer is shown of their own record, each in words. An
# action not listed here, whoever did it, is never shown to an officer: professional
# standards' activity about them (flags raised, read, noted, reviewed; auditors' searches,
# reads and exports) above all (docs/appropriate-use.md, "What an officer sees").
OFFICER_ACTIONS: dict[str, str] = {
    "secure.session_opened": "entered the secure side",
    "secure.session_ended": "left the secure side",
    "device_event.secure.entered": "entered the secure side (as the device recorded it)",
    "device_event.secure.left": "left the secure side (as the device recorded it)",
    "device_event.secure.denied": "was refused the secure side (as the device recorded it)",
    "secure.pin_wrong": "entered a wrong PIN",
    "secure.pin_locked_out": "PIN locked out after wrong attempts",
    "secure.pin_changed": "changed the PIN",
    "secure.policy_acknowledged": "acknowledged the appropriate-use policy",
    "transaction.person_search": "person search",
    "transaction.vehicle_search": "vehicle search",
    "transaction.incident_lookup": "incident lookup",
    "transaction.incident_report": "incident report",
    "transaction.missing_person_report": "missing person report",
    "transaction.witness_statement": "witness statement",
    "transaction.stop_and_search": "stop and search",
    "transaction.incident_report_update": "incident report update",
    "transaction.witness_statement_annotation": "note beside a witness statement",
    "transaction.report_lookup": "filed report read back",
    "appropriate_use.justification_requested": "asked for further justification (random check)",
    "appropriate_use.justification_given": "gave further justification",
    "device.reported_lost": "reported the device lost",
}
OWN_USAGE_READ = "audit.own_usage_read"
# The device keeps its own log of entering and leaving the secure side and sends it later;
# online, the server recorded the same entry or exit as it happened, under the same session.
# One action is one entry: the server's, naming the device's record of it. An entry or exit
# the server did not record (offline, or a lock the server never heard of) is shown as the
# device recorded it.
DEVICE_COPIES: dict[str, str] = {
    "device_event.secure.entered": "secure.session_opened",
    "device_event.secure.left": "secure.session_ended",
}


def _words(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _shown(event: AuditEvent) -> MyEvent:
    """The event as its officer sees it: the parts of its detail that say what they did, and
    nothing of who else acted or looked (no actor, no sequence number, no subject keys)."""
    detail = event.detail if isinstance(event.detail, dict) else {}
    return MyEvent(
        id=event.event_id,
        time=event.occurred_at,
        on_device_at=search.device_time({"action": event.action, "detail": detail}),
        action=event.action,
        what=OFFICER_ACTIONS[event.action],
        device_serial=_words(detail.get("device_serial") or detail.get("serial")),
        purpose=_words(detail.get("purpose")),
        incident_reference=_words(detail.get("incident_reference")),
        outcome=_words(detail.get("outcome")),
        reference=_words(detail.get("reference")),
        reason=_words(detail.get("reason")),
        policy_text_version=_words(detail.get("policy_text_version")),
        transaction_id=_words(detail.get("transaction_id")),
        answer=_words(detail.get("answer")),
        note=_words(detail.get("note")),
    )


def my_usage(
    session: Session,
    *,
    user_id: uuid.UUID,
    collar_number: str | None,
    limit: int,
    before: uuid.UUID | None,
    actor: Actor,
    now: datetime,
) -> MyUsage:
    """The officer's own actions, newest first, as `OFFICER_ACTIONS` allows. The read is
    audited under the officer's collar number (so professional standards see who read an
    officer's record, the officer included), and never listed back to the officer."""
    if collar_number is None:
        return MyUsage(events=[], next_before=None)
    found, more = search.own_events(
        session,
        collar_number=collar_number,
        user_id=str(user_id),
        actions=OFFICER_ACTIONS,
        limit=limit,
        before=before,
    )
    record(
        session,
        actor=actor,
        action=OWN_USAGE_READ,
        now=now,
        detail={
            "collar_number": collar_number,
            "found": len(found),
            **({"before": str(before)} if before is not None else {}),
        },
    )
    return MyUsage(
        events=_one_per_action(session, found, collar_number=collar_number, user_id=user_id),
        next_before=found[-1].event_id if more else None,
    )


def _session_of(event: AuditEvent) -> str | None:
    detail = event.detail if isinstance(event.detail, dict) else {}
    return _words(detail.get("session_id"))


def _one_per_action(
    session: Session, found: list[AuditEvent], *, collar_number: str, user_id: uuid.UUID
) -> list[MyEvent]:
    """The page's events as the officer is shown them, an entry or exit the server and the
    device both recorded shown once (`DEVICE_COPIES`), whichever page the other record is on."""
    named = {
        sid
        for event in found
        if event.action in DEVICE_COPIES or event.action in DEVICE_COPIES.values()
        if (sid := _session_of(event)) is not None
    }
    recorded = search.own_session_events(
        session,
        collar_number=collar_number,
        user_id=str(user_id),
        actions=[*DEVICE_COPIES, *DEVICE_COPIES.values()],
        session_ids=named,
    )
    by_server = {(action, sid) for action, sid, _ in recorded if action not in DEVICE_COPIES}
    by_device = {
        (DEVICE_COPIES[action], sid): event_id
        for action, sid, event_id in recorded
        if action in DEVICE_COPIES
    }
    shown = []
    for event in found:
        sid = _session_of(event)
        if event.action in DEVICE_COPIES and (DEVICE_COPIES[event.action], sid) in by_server:
            continue  # the server's entry stands for it
        one = _shown(event)
        one.device_record_id = by_device.get((event.action, sid)) if sid else None
        shown.append(one)
    return shown
