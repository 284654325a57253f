"""What a provisioning run knows of the server: the devices IT sees, the enrolment token's
uses shared out among the run's devices, and how long to wait for an agent to appear."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

WAIT_S = 120.0
POLL_S = 1.0


@dataclass(frozen=True)
class FleetDevice:
    """A device as the server shows it to IT."""

    id: str
    officer: str | None  # collar number
    group: str
    last_seen_at: str | None


class Fleet(Protocol):
    """What the enrolment steps need of the server."""

    def device(self, serial: str) -> FleetDevice | None:
        """The active device with this serial, if one has enrolled."""
        ...

    def assign(self, device_id: str, *, officer: str | None, group: str | None) -> None: ...


class FleetError(Exception):
    """The server refused, or could not be reached; the message says which."""


class TokenUses:
    """The enrolment token's uses, shared out among a run's devices as each is found not yet
    enrolled, so a device the token cannot enrol is refused before it is touched."""

    def __init__(self, left: int | None, problem: str | None = None) -> None:
        self._left, self._problem = left, problem
        self._lock = threading.Lock()

    def take(self) -> str | None:
        """Take one use for a device; why not, if there is none to take."""
        with self._lock:
            if self._problem is not None:
                return self._problem
            if self._left is not None:
                if self._left <= 0:
                    return (
                        "the enrolment token has no use left for this device: make one with "
                        "enough --uses for the devices not yet enrolled"
                    )
                self._left -= 1
            return None


@dataclass(frozen=True)
class Enrolling:
    """How a run sees devices enrol: the server, the token's uses, where this host's ADB key
    is, and how long to wait for an agent on a phone."""

    fleet: Fleet
    host_keys: Path
    tokens: TokenUses = field(default_factory=lambda: TokenUses(None))
    wait_s: float = WAIT_S
    poll_s: float = POLL_S
