"""Sending a provisioning run's events to the server's audit log as the run goes, from one
thread, in batches, retrying while the server is briefly away. The run does not start
until the server has recorded that it started."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

Post = Callable[[list[dict[str, Any]]], None]
BATCH = 200
RETRY_S = 1.0
FINAL_ATTEMPTS = 3


class AuditTrail:
    """Events for `POST /api/v1/provisioning/events`, delivered in order."""

    def __init__(self, post: Post | None, *, run_id: uuid.UUID | None = None) -> None:
        self.run_id = run_id or uuid.uuid4()
        self._post = post
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._send_forever, name="audit", daemon=True)
        if post is not None:
            self._thread.start()

    def start(self, **fields: Any) -> None:
        """Record the run's start now; raises if the server will not have it."""
        if self._post is not None:
            self._post([self._event("run_started", fields)])

    def add(self, kind: str, **fields: Any) -> None:
        if self._post is None:
            return
        with self._lock:
            self._pending.append(self._event(kind, fields))
        self._wake.set()

    def _event(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        return {"kind": kind, "run_id": str(self.run_id), **fields}

    def _send_some(self) -> bool:
        """Send what is waiting, oldest first; False if the server refused or was away."""
        while True:
            with self._lock:
                batch = self._pending[:BATCH]
            if not batch:
                return True
            try:
                assert self._post is not None
                self._post(batch)
            except Exception as exc:  # any failure: keep the events, try later
                self.last_error = str(exc) or type(exc).__name__
                return False
            with self._lock:
                del self._pending[: len(batch)]

    def _send_forever(self) -> None:
        while not self._closing:
            self._wake.wait()
            self._wake.clear()
            if not self._send_some() and not self._closing:
                self._wake.wait(RETRY_S)
                self._wake.set()

    def close(self) -> int:
        """Deliver what is left; the number of events the server never got."""
        if self._post is None:
            return 0
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=60)
        for _ in range(FINAL_ATTEMPTS):
            if self._send_some():
                break
        with self._lock:
            return len(self._pending)
