"""The secure side on the device (DESIGN.md flows 5 and 6): the gate the one button opens,
the open container, the offline copy of its key, and shredding both when the server says
the key is gone.

Entry: local checks first (the device's own posture, its clock, the offline lockout), then
the server's gate. If the server cannot be reached and policy allowed offline work at the last
online entry, the PIN opens the offline copy of the key until its deadline; wrong PINs are
counted here, and too many destroy the copy."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from device_agent import container as containers
from device_agent.container import Container
from device_agent.errors import AgentError, RefusedError
from device_agent.keys import (
    SCRYPT_N,
    OfflineKey,
    open_envelope,
    unwrap_offline,
    wrap_offline,
)
from device_agent.outbox import Outbox
from device_agent.state import AgentState

OFFLINE_FILE = "offline-key.json"
ATTEMPTS_FILE = "offline-attempts.json"
CLOCK_FILE = "clock.json"
CLOCK_TOLERANCE = timedelta(minutes=5)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class OpenSide:
    """The secure side while it is open: the container with its key in memory."""

    container: Container
    collar_number: str
    started_at: datetime
    expires_at: datetime
    inactivity: timedelta
    last_activity: datetime
    lock_on_switch: bool
    session_id: str | None = None  # None: opened offline
    session_token: str | None = None
    # Opened offline: the PIN, held in memory beside the key it opened, for one try at the
    # server's gate when the server is back (Agent.reconnect); never written anywhere.
    reconnect_pin: str | None = field(default=None, repr=False)

    @property
    def online(self) -> bool:
        return self.session_token is not None

    def lock_reason(self, now: datetime) -> str | None:
        if now >= self.expires_at:
            return "max_length"
        if now >= self.last_activity + self.inactivity:
            return "inactivity"
        return None


class SecureSide:
    """Everything the agent keeps about the secure side in its state directory."""

    def __init__(self, state: AgentState, outbox: Outbox, *, clock: Clock = utc_now) -> None:
        self.state = state
        self.outbox = outbox
        self.clock = clock
        self.open: OpenSide | None = None
        self.kdf_n = SCRYPT_N  # scrypt's cost for the offline copy (docs/secure-side.md)

    # --- events -------------------------------------------------------------------------
    def event(self, kind: str, **detail: Any) -> None:
        self.outbox.add(kind, detail, occurred_at=self.clock().isoformat())

    # --- local checks -------------------------------------------------------------------
    def check_clock(self) -> datetime:
        """Now, refusing a clock set back (it would stretch an offline deadline)."""
        now = self.clock()
        path = self.state.path(CLOCK_FILE)
        seen = (
            datetime.fromisoformat(json.loads(path.read_text())["seen"]) if path.exists() else None
        )
        if seen is not None and now < seen - CLOCK_TOLERANCE:
            raise RefusedError(
                "clock_moved_back",
                f"the device clock is behind the last time it saw ({seen.isoformat()}); "
                "connect to the network so it can be corrected",
            )
        if seen is None or now > seen:
            self.state.write_json(CLOCK_FILE, {"seen": now.isoformat()})
        return now

    # --- the offline copy ---------------------------------------------------------------
    def offline_key(self) -> OfflineKey | None:
        path = self.state.path(OFFLINE_FILE)
        return OfflineKey(**json.loads(path.read_text())) if path.exists() else None

    def keep_offline(
        self, secret: bytes, *, pin: str, key_id: str, collar: str, offline: dict[str, Any]
    ) -> None:
        """Keep (or, if policy no longer allows it, drop) the offline copy of the key."""
        if not offline.get("allowed") or not offline.get("until"):
            self.destroy_offline()
            return
        wrapped = wrap_offline(
            secret,
            pin=pin,
            device_id=self.state.enrolment().device_id,
            key_id=key_id,
            collar_number=collar,
            until=datetime.fromisoformat(str(offline["until"])),
            max_failures=int(offline.get("pin_max_failed_attempts", 5)),
            n=self.kdf_n,
        )
        self.state.write_json(OFFLINE_FILE, wrapped.as_json())
        self.state.write_json(ATTEMPTS_FILE, {"key_id": key_id, "failures": 0})

    def destroy_offline(self) -> bool:
        existed = False
        for name in (OFFLINE_FILE, ATTEMPTS_FILE):
            path = self.state.path(name)
            if path.exists():
                path.unlink()
                existed = True
        return existed

    def _failures(self, key_id: str) -> int:
        path = self.state.path(ATTEMPTS_FILE)
        if not path.exists():
            return 0
        data = json.loads(path.read_text())
        return int(data["failures"]) if data.get("key_id") == key_id else 0

    def enter_offline(self, *, collar: str, pin: str, now: datetime) -> OpenSide:
        """Open the container with the offline copy of its key, if policy allowed it."""
        offline = self.offline_key()
        if offline is None:
            raise RefusedError(
                "offline_not_allowed",
                "cannot reach the server, and this device holds no offline key "
                "(policy does not allow offline use, or it was used up)",
            )
        if offline.expired(now):
            self.destroy_offline()
            self.event(
                "secure.offline_key_destroyed",
                reason="offline_deadline_passed",
                key_id=offline.key_id,
            )
            raise RefusedError(
                "offline_deadline_passed",
                f"offline use ended at {offline.until}; connect to the server to enter",
            )
        if collar != offline.collar_number:
            raise RefusedError(
                "offline_other_officer",
                "offline, only the officer who last entered online may enter",
            )
        secret = unwrap_offline(offline, pin)
        if secret is None:
            failures = self._failures(offline.key_id) + 1
            if failures >= offline.max_failures:
                self.destroy_offline()
                self.event(
                    "secure.offline_key_destroyed",
                    reason="too_many_wrong_pins",
                    key_id=offline.key_id,
                )
                raise RefusedError(
                    "offline_locked_out",
                    "too many wrong PINs: the offline key is destroyed; connect to the server",
                )
            self.state.write_json(ATTEMPTS_FILE, {"key_id": offline.key_id, "failures": failures})
            raise RefusedError(
                "invalid_pin",
                f"wrong PIN ({offline.max_failures - failures} attempts left offline)",
                {"attempts_remaining": offline.max_failures - failures},
            )
        self.state.write_json(ATTEMPTS_FILE, {"key_id": offline.key_id, "failures": 0})
        device_id = self.state.enrolment().device_id
        box = Container(
            self.state.directory, device_id=device_id, key_id=offline.key_id, key=secret
        )
        until = datetime.fromisoformat(offline.until)
        return OpenSide(
            container=box,
            collar_number=collar,
            started_at=now,
            expires_at=until,
            inactivity=timedelta(minutes=10),
            last_activity=now,
            lock_on_switch=True,
            reconnect_pin=pin,
        )

    # --- online -------------------------------------------------------------------------
    def open_online(self, answer: dict[str, Any], *, pin: str, now: datetime) -> OpenSide:
        """Open the container with the key the server's gate sent."""
        identity = self.state.identity()
        envelope = answer["container_key"]
        key_id = str(envelope["key_id"])
        secret = open_envelope(envelope, key=identity.key, device_id=identity.device_id)
        if containers.key_id_of(self.state.directory) not in (None, key_id):
            self.shred(reason="superseded_key", key_id=containers.key_id_of(self.state.directory))
        collar = str(answer["officer"]["collar_number"])
        self.keep_offline(secret, pin=pin, key_id=key_id, collar=collar, offline=answer["offline"])
        box = Container(
            self.state.directory, device_id=identity.device_id, key_id=key_id, key=secret
        )
        return OpenSide(
            container=box,
            collar_number=collar,
            started_at=now,
            expires_at=datetime.fromisoformat(str(answer["expires_at"])),
            inactivity=timedelta(seconds=int(answer["inactivity_lock_s"])),
            last_activity=now,
            lock_on_switch=bool(answer["lock_on_switch_to_personal"]),
            session_id=str(answer["session_id"]),
            session_token=str(answer["session_token"]),
        )

    # --- locking and shredding ----------------------------------------------------------
    def lock(self) -> OpenSide | None:
        """Drop the key from memory. Returns what was open."""
        side, self.open = self.open, None
        if side is not None:
            side.container.close()
        return side

    def held_key_id(self) -> str | None:
        offline = self.offline_key()
        return containers.key_id_of(self.state.directory) or (offline.key_id if offline else None)

    def shred(
        self, *, reason: str, key_id: str | None, removed: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Delete the container and every copy of its key; the evidence for the receipt.
        `removed`: what the platform removed of the secure side's profile, if anything."""
        was_open = self.lock() is not None
        deleted = containers.destroy(self.state.directory)
        offline = self.destroy_offline()
        evidence = {
            "key_id": key_id,
            "reason": reason,
            "container_deleted": deleted,
            "offline_key_destroyed": offline,
            "was_open": was_open,
            "secure_side_removed": removed,
        }
        self.event("container.shredded", **evidence)
        return evidence

    def require_open(self) -> OpenSide:
        if self.open is None:
            raise AgentError(
                "the secure side is locked; enter it first (tabard agent secure enter)"
            )
        return self.open
