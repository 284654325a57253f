"""Command wake-ups over a NATS broker, for fleets too large to hold a long poll per device.

With `command_broker_url` set, the worker that queues a command publishes, once its
transaction commits, an empty message on the device's wake-up subject, `tabard.wake.<token>`:
the token is an HMAC of the device id under a key derived from the master key, so the broker
(and anyone who can read it) never learns which device a subject is, and the message carries
nothing of the command. The device hears it and fetches its signed envelopes over the
authenticated HTTP API (`GET /api/v1/device/commands`), so the broker is trusted for
timeliness only: a lost or forged wake-up costs a fetch or a delay, never a command run that
the server did not sign (docs/device-protocol.md section 8.6).

Publishing never blocks a request: `publish` hands the subjects to the server's event loop,
and nats-py buffers them while it reconnects to a broker it lost. A server that cannot reach
the broker at start keeps trying in the background; until then devices fall back to their
long poll and check-in."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import uuid
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

import nats
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from mdm_server.commands.schemas import WakeupChannel

KEY_PURPOSE = b"tabard/commands/wakeup-subject/v1"
SUBJECT_PREFIX = "tabard.wake."
TOKEN_BYTES = 16  # 128 bits: a subject nobody can guess
CONNECT_RETRY_S = (0.5, 1.0, 2.0, 5.0, 10.0)
log = logging.getLogger("tabard.commands")


def wakeup_subject(key: bytes, device_id: uuid.UUID) -> str:
    """The device's wake-up subject: opaque, stable while the master key is."""
    token = hmac.new(key, device_id.bytes, hashlib.sha256).digest()[:TOKEN_BYTES]
    return SUBJECT_PREFIX + token.hex()


def device_url(url: str) -> str:
    """The broker URL as devices are told it: without the server's own credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, "", "", ""))


class BrokerPublisher:
    """One NATS connection per worker, publishing wake-ups from any thread."""

    def __init__(self, url: str, key: bytes) -> None:
        self.url = url
        self.key = key
        self.device_url = device_url(url)
        self._client: NatsClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._publishing: set[asyncio.Task[None]] = set()

    def channel(self, device_id: uuid.UUID) -> WakeupChannel:
        """Where the device hears of its commands."""
        return WakeupChannel(url=self.device_url, subject=wakeup_subject(self.key, device_id))

    async def start(self) -> None:
        """Connect in the background: a broker that is down must not stop the server."""
        self._loop = asyncio.get_running_loop()
        self._connecting = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        failures = 0
        while True:
            try:
                self._client = await nats.connect(
                    self.url,
                    name="tabard-server",
                    connect_timeout=2,
                    max_reconnect_attempts=-1,  # once connected, never give up
                    reconnect_time_wait=1,
                )
                log.info("publishing command wake-ups to %s", self.device_url)
                return
            except (NatsError, OSError) as exc:
                delay = CONNECT_RETRY_S[min(failures, len(CONNECT_RETRY_S) - 1)]
                failures += 1
                log.warning("cannot reach the command broker (%s); retrying", exc)
                await asyncio.sleep(delay)

    def publish(self, device_ids: Iterable[uuid.UUID]) -> None:
        """Wake these devices (thread-safe; returns at once)."""
        subjects = [wakeup_subject(self.key, device_id) for device_id in device_ids]
        if subjects and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._publish_soon, subjects)

    def _publish_soon(self, subjects: list[str]) -> None:
        client = self._client
        if client is None or client.is_closed:
            log.debug("no command broker yet; %d wake-ups left to the fallback", len(subjects))
            return
        task = asyncio.create_task(self._publish_all(client, subjects))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    @staticmethod
    async def _publish_all(client: NatsClient, subjects: list[str]) -> None:
        try:
            for subject in subjects:  # appends to nats-py's buffer; its flusher writes them
                await client.publish(subject, b"")
        except NatsError as exc:
            log.warning("could not publish %d command wake-ups (%s)", len(subjects), exc)

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        if self._client is not None and not self._client.is_closed:
            await self._client.drain()
