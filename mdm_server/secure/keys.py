"""Container keys (DESIGN.md flow 6): the server is the authority for every one. Each is kept
wrapped under the master key; destroying the wrapped copy is the crypto-shred that makes a
device's container unrecoverable even if the device never comes back online. Never commits."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.crypto.master import MasterKey
from mdm_server.secure import repository
from mdm_server.secure.models import ContainerKey

CONTAINER_KEY_BYTES = 32


def bound_to(key: ContainerKey) -> bytes:
    """What a container key's wrapped copy is bound to: its device and its own id."""
    return f"tabard container key|{key.device_id}|{key.id}".encode("ascii")


def live_or_new_key(
    session: Session, *, device_id: uuid.UUID, master: MasterKey, now: datetime
) -> tuple[ContainerKey, bytes]:
    """The device's live container key and its bytes; a new one if it has none (first entry,
    or the first after its last key was destroyed)."""
    key = repository.live_key(session, device_id, for_update=True)
    if key is not None and key.wrapped is not None:
        return key, master.unwrap(key.wrapped, bound_to=bound_to(key))
    secret = secrets.token_bytes(CONTAINER_KEY_BYTES)
    key = ContainerKey(device_id=device_id, created_at=now)
    key.wrapped = master.wrap(secret, bound_to=bound_to(key))
    session.add(key)
    session.flush()
    return key, secret


def destroy(
    session: Session,
    *,
    device_id: uuid.UUID,
    reason: str,
    actor: Actor,
    now: datetime,
) -> ContainerKey | None:
    """Crypto-shred the device's container: destroy its live key (if it has one) and end its
    open secure sessions, audited. Returns the destroyed key's record."""
    key = repository.live_key(session, device_id, for_update=True)
    ended = repository.end_open_sessions(
        session, now=now, reason="container_key_destroyed", device_id=device_id
    )
    if key is None:
        return None
    key.wrapped = None
    key.destroyed_at = now
    key.destroyed_reason = reason[:200]
    key.destroyed_by = (actor.name or actor.type)[:128]
    session.add(key)
    record(
        session,
        actor=actor,
        action="secure.container_key_destroyed",
        now=now,
        target_type="device",
        target_id=device_id,
        detail={"key_id": str(key.id), "reason": reason, "sessions_ended": ended},
    )
    return key
