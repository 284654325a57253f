"""Device events from the agents' outboxes (docs/device-protocol.md §7): stored once each
(idempotent by event id, so a retried batch is harmless), written to the audit log as they
arrive with the device's signature over each, and the device's sequence followed so a gap is
visible. A number another event already holds marks a copy of the device in use (see
`clones`). Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.devices import clones, repository
from mdm_server.devices.models import DeviceEvent
from mdm_server.devices.schemas import (
    DeviceEventIn,
    DeviceEventsAccepted,
    EventConflict,
)

MAX_MISSING_RANGES = 50


def ingest(
    session: Session,
    *,
    device_id: uuid.UUID,
    batch: list[tuple[DeviceEventIn, str]],
    actor: Actor,
    now: datetime,
) -> DeviceEventsAccepted:
    """Keep the batch's new events, in sequence order; report duplicates, conflicts and gaps."""
    head = repository.event_head(session, device_id)
    signed = {event.event_id: token for event, token in batch}
    incoming = sorted((event for event, _ in batch), key=lambda event: event.seq)
    known = repository.known_events(
        session,
        device_id,
        event_ids=[event.event_id for event in incoming],
        seqs=[event.seq for event in incoming],
    )
    accepted: list[uuid.UUID] = []
    duplicates: list[uuid.UUID] = []
    conflicts: list[EventConflict] = []
    taken: dict[int, uuid.UUID] = {seq: event_id for event_id, seq in known}
    seen_ids = {event_id for event_id, _ in known}
    for event in incoming:
        if event.event_id in seen_ids:
            # Kept once, by its id, whatever number it carries now (a renumbered event whose
            # answer was lost comes back under its new number).
            duplicates.append(event.event_id)
            continue
        if event.seq in taken:
            conflicts.append(
                EventConflict(
                    event_id=event.event_id,
                    seq=event.seq,
                    problem="another event signed by this device already has this sequence "
                    "number: a copy of the device is in use; renumber from resequence_from",
                )
            )
            continue
        taken[event.seq] = event.event_id
        seen_ids.add(event.event_id)
        session.add(
            DeviceEvent(
                device_id=device_id,
                seq=event.seq,
                event_id=event.event_id,
                type=event.type,
                occurred_at=event.occurred_at,
                received_at=now,
                detail=event.detail,
            )
        )
        record(
            session,
            actor=actor,
            action=f"device_event.{event.type}",
            now=now,
            target_type="device",
            target_id=device_id,
            # The audit event's time is when the server received it; `occurred_at` when it
            # happened, by the device's clock. The device's own detail cannot overwrite either.
            detail={
                **event.detail,
                "event_id": str(event.event_id),
                "seq": event.seq,
                "occurred_at": event.occurred_at.isoformat(),
                "signed": signed[event.event_id],  # the device's own signature over it
            },
        )
        accepted.append(event.event_id)
    if accepted:
        session.flush()
        highest = max(
            head.highest_seq, max(event.seq for event in incoming if event.event_id in accepted)
        )
        head.highest_seq = highest
        head.contiguous_seq = repository.contiguous_from(session, device_id, head.contiguous_seq)
        session.add(head)
    if conflicts:
        clones.conflicts_found(
            session,
            device_id=device_id,
            conflicts=conflicts,
            held_by=taken,
            signed=signed,
            actor=actor,
            now=now,
        )
    return DeviceEventsAccepted(
        accepted=accepted,
        duplicates=duplicates,
        conflicts=conflicts,
        resequence_from=head.highest_seq + 1 if conflicts else None,
        contiguous_seq=head.contiguous_seq,
        highest_seq=head.highest_seq,
        missing=repository.missing_ranges(
            session,
            device_id,
            after=head.contiguous_seq,
            up_to=head.highest_seq,
            limit=MAX_MISSING_RANGES,
        ),
    )
