"""The NATS broker on loopback, for the command wake-up tests: real, never a stand-in. CI
starts it (.ci/run) and fails without it; elsewhere a test that needs it is skipped when
nothing listens."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import nats
import pytest

NATS_URL = os.environ.get("TABARD_TEST_NATS_URL", "nats://127.0.0.1:4222")


def broker_url() -> str:
    """The broker's URL, or the test is skipped if nothing answers there."""
    parts = urlsplit(NATS_URL)
    with socket.socket() as probe:
        probe.settimeout(2)
        if probe.connect_ex((parts.hostname or "127.0.0.1", parts.port or 4222)) != 0:
            if os.environ.get("CI"):  # CI started it: its absence is a failure there
                pytest.fail(f"no NATS broker at {NATS_URL}")
            pytest.skip(f"no NATS broker at {NATS_URL} (.ci/run starts one)")
    return NATS_URL


class Heard:
    """Messages heard on one subject, by a subscriber on a thread and event loop of its own."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.subscribed = threading.Event()


@contextmanager
def hearing(url: str, subject: str) -> Iterator[Heard]:
    """Subscribe to `subject` until the block ends; what arrives collects in `payloads`."""
    heard = Heard()
    loop = asyncio.new_event_loop()
    done = asyncio.Event()

    async def listen() -> None:
        client = await nats.connect(url, name="tabard-test")

        async def collect(message: nats.aio.msg.Msg) -> None:
            heard.payloads.append(message.data)

        await client.subscribe(subject, cb=collect)
        await client.flush()
        heard.subscribed.set()
        await done.wait()
        await client.close()

    runner = threading.Thread(target=loop.run_until_complete, args=(listen(),), daemon=True)
    runner.start()
    try:
        assert heard.subscribed.wait(10), "the test's subscriber did not subscribe"
        yield heard
    finally:
        loop.call_soon_threadsafe(done.set)
        runner.join(timeout=10)
        loop.close()
