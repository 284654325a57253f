"""Waking long polls (`GET /api/v1/device/commands?wait=S`) the moment a command is queued.

Within one process a waiting poll holds an `asyncio.Event`; queuing a command sets the events
of that device's polls once its transaction commits. Setting an event already set is a no-op,
so a burst of commands wakes a poll once. With several workers over PostgreSQL the queuing
transaction also runs `pg_notify('tabard_commands', device ids)`, which PostgreSQL delivers
to every listening worker only if, and when, the transaction commits; each worker's listener
thread then wakes its own polls. A listener that loses its connection wakes every poll (they
look again, so nothing queued meanwhile is missed) and reconnects.

With a command broker configured (mdm_server.commands.broker), the queuing worker also
publishes a content-free wake-up per device once the transaction commits, for devices that
listen there instead of holding a poll.

When the server is asked to stop, `stop()` wakes every poll and marks the process stopping:
each poll, and any that arrives after, is answered at once (`server_stopping`, come back), so
the server need not wait out the longest poll before it exits."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg
from sqlalchemy import text
from sqlmodel import Session

from mdm_server.db import after_commit, libpq_url

if TYPE_CHECKING:
    from mdm_server.commands.broker import BrokerPublisher
    from mdm_server.commands.schemas import WakeupChannel

CHANNEL = "tabard_commands"
NOTIFY_PAYLOAD_LIMIT = 7_000  # PostgreSQL refuses payloads of 8000 bytes or more
log = logging.getLogger("tabard.commands")


@dataclass(eq=False)
class Waiter:
    event: asyncio.Event
    loop: asyncio.AbstractEventLoop

    def wake(self) -> None:
        self.loop.call_soon_threadsafe(self.event.set)


class Wakeups:
    """The polls waiting in this process, by device."""

    def __init__(self, *, postgres: bool = False) -> None:
        self.postgres = postgres
        self._waiters: dict[uuid.UUID, set[Waiter]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.publisher: BrokerPublisher | None = None  # set while the server runs, if configured

    def channel(self, device_id: uuid.UUID) -> WakeupChannel | None:
        """Where the device may listen for wake-ups instead of holding a poll, if anywhere."""
        return None if self.publisher is None else self.publisher.channel(device_id)

    @property
    def stopping(self) -> bool:
        """Whether the server is stopping: a poll should be answered now, not held."""
        return self._stopping.is_set()

    def stop(self) -> None:
        """The server is stopping: wake every poll, and every poll from now on at once."""
        self._stopping.set()
        self.wake_all()

    @contextmanager
    def subscribe(self, device_id: uuid.UUID) -> Iterator[asyncio.Event]:
        """An event set when a command for `device_id` may have been queued. Subscribe before
        looking for commands, so one queued in between is not missed."""
        waiter = Waiter(asyncio.Event(), asyncio.get_running_loop())
        with self._lock:
            self._waiters.setdefault(device_id, set()).add(waiter)
        if self.stopping:  # after adding: a stop in between has woken it, or this does
            waiter.event.set()
        try:
            yield waiter.event
        finally:
            with self._lock:
                waiting = self._waiters.get(device_id)
                if waiting is not None:
                    waiting.discard(waiter)
                    if not waiting:
                        del self._waiters[device_id]

    def waiting(self, device_id: uuid.UUID) -> int:
        """How many of this process's polls wait for `device_id`."""
        with self._lock:
            return len(self._waiters.get(device_id, ()))

    def wake(self, device_ids: Iterable[uuid.UUID]) -> None:
        """Wake this process's polls for these devices (thread-safe)."""
        with self._lock:
            waiters = [w for d in set(device_ids) for w in self._waiters.get(d, ())]
        for waiter in waiters:
            waiter.wake()

    def wake_all(self) -> None:
        with self._lock:
            waiters = [w for group in self._waiters.values() for w in group]
        for waiter in waiters:
            waiter.wake()

    def announce(self, session: Session, device_ids: Iterable[uuid.UUID]) -> None:
        """Wake the devices' polls, in every worker, when this unit of work commits."""
        ids = sorted({str(device_id) for device_id in device_ids})
        if not ids:
            return
        if self.postgres:
            for payload in _payloads(ids):
                session.execute(
                    text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": CHANNEL, "payload": payload},
                )
        # This worker's own polls need not wait for the notification's round trip.
        wanted = [uuid.UUID(device_id) for device_id in ids]
        after_commit(session, lambda: self._committed(wanted))

    def _committed(self, device_ids: list[uuid.UUID]) -> None:
        self.wake(device_ids)
        if self.publisher is not None:  # only the queuing worker publishes: once per command
            self.publisher.publish(device_ids)


def _payloads(ids: list[str]) -> Iterator[str]:
    """Device ids, comma-separated, in payloads PostgreSQL accepts."""
    chunk: list[str] = []
    size = 0
    for device_id in ids:
        if chunk and size + len(device_id) + 1 > NOTIFY_PAYLOAD_LIMIT:
            yield ",".join(chunk)
            chunk, size = [], 0
        chunk.append(device_id)
        size += len(device_id) + 1
    if chunk:
        yield ",".join(chunk)


class PostgresListener:
    """A thread holding one connection that LISTENs on the commands channel."""

    RECONNECT_S = (0.5, 1.0, 2.0, 5.0)
    TICK_S = 0.25  # how often it looks up from waiting to see whether it should stop

    def __init__(self, url: str, wakeups: Wakeups) -> None:
        self.url = libpq_url(url)
        self.wakeups = wakeups
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tabard-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    log.info("listening for command wake-ups on PostgreSQL")
                    failures = 0
                    self.wakeups.wake_all()  # anything queued while we were away
                    while not self._stop.is_set():
                        for note in connection.notifies(timeout=self.TICK_S):
                            self.wakeups.wake(_device_ids(note.payload))
            except psycopg.Error as exc:
                delay = self.RECONNECT_S[min(failures, len(self.RECONNECT_S) - 1)]
                failures += 1
                log.warning("command wake-up listener lost PostgreSQL (%s); retrying", exc)
                self.wakeups.wake_all()
                self._stop.wait(delay)


def _device_ids(payload: str) -> list[uuid.UUID]:
    found = []
    for part in payload.split(","):
        try:
            found.append(uuid.UUID(part))
        except ValueError:
            continue
    return found
