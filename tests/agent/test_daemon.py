"""The agent's socket protocol: one JSON request per line, and a clear refusal for anything
else; the loops' jitter and backoff."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from device_agent.daemon import (
    MAX_BACKOFF_S,
    MAX_REQUEST_BYTES,
    MAX_UPLOAD_BACKOFF_S,
    Daemon,
    backoff,
    jittered,
)
from device_agent.errors import UnreachableError
from device_agent.upload import OutboxStalledError
from tests.agent.test_secure_side import setup_device


def answer(daemon: Daemon, data: bytes) -> dict[str, Any]:
    async def ask() -> dict[str, Any]:
        reader = asyncio.StreamReader(limit=MAX_REQUEST_BYTES)
        reader.feed_data(data)
        reader.feed_eof()
        return await daemon._answer(reader)

    return asyncio.run(ask())


@pytest.fixture
def daemon(
    app: FastAPI, client: TestClient, admin_headers: dict[str, str], tmp_path: Path
) -> Daemon:
    device = setup_device(app, client, admin_headers, tmp_path, offline_hours=0)
    return Daemon(device.agent())


class TestRequests:
    def test_status_answers(self, daemon: Daemon) -> None:
        reply = answer(daemon, b'{"op": "status"}\n')
        assert reply["ok"] is True
        assert reply["result"]["secure_side"] == "locked"

    @pytest.mark.parametrize(
        ("data", "error"),
        [
            (b"not json\n", "bad_request"),
            (b"[1, 2]\n", "bad_request"),
            (b"\n", "bad_request"),
            (b'{"op": "format_disk"}\n', "unknown_op"),
            (b'{"op": "enter"}\n', "agent_error"),
            (b'{"op": "transaction", "body": 5}\n', "agent_error"),
            (b'{"op": "status", "pad": "' + b"x" * MAX_REQUEST_BYTES + b'"}\n', "too_large"),
        ],
    )
    def test_bad_requests_are_refused_with_a_reason(
        self, daemon: Daemon, data: bytes, error: str
    ) -> None:
        reply = answer(daemon, data)
        assert reply["ok"] is False
        assert reply["error"] == error
        assert reply["message"]

    def test_a_transaction_while_locked_is_refused(self, daemon: Daemon) -> None:
        reply = answer(daemon, b'{"op": "transaction", "body": {"type": "person_search"}}\n')
        assert reply["error"] == "agent_error"
        assert "locked" in reply["message"]


class TestTiming:
    def test_jitter_stays_within_ten_percent(self) -> None:
        rng = random.Random(1)
        delays = [jittered(300, rng) for _ in range(1000)]
        assert 270 <= min(delays) < 280 and 320 < max(delays) <= 330

    def test_backoff_grows_then_caps(self) -> None:
        rng = random.Random(2)
        ceilings = [max(backoff(n, 5.0, rng) for _ in range(200)) for n in (1, 3, 30)]
        assert ceilings[0] <= 10 < ceilings[1] <= 40
        assert MAX_BACKOFF_S * 0.9 < ceilings[2] <= MAX_BACKOFF_S


class _Ceiling(random.Random):
    """Jitter that always picks the top of its range, so backoff delays can be read exactly."""

    def uniform(self, a: float, b: float) -> float:
        return b


class _FlakyUploads:
    """An agent whose uploads all fail; the ones marked True got a batch through first."""

    def __init__(self, progress: list[bool]) -> None:
        self.progress = progress
        self.acknowledged = 0
        self.outbox_changed = asyncio.Event()

    async def upload(self) -> int:
        if self.progress.pop(0):
            self.acknowledged += 200
        raise UnreachableError("cannot reach the server")


def upload_delays(progress: list[bool]) -> list[float]:
    """The upload loop's waits between tries while every upload fails (True: after a batch
    got through), read at the top of their jitter."""
    agent = _FlakyUploads(progress)
    daemon = Daemon(agent, rng=_Ceiling())  # type: ignore[arg-type]
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)
        if not agent.progress:
            daemon.stopping.set()

    daemon._sleep = record  # type: ignore[method-assign]
    asyncio.run(daemon.upload_loop())
    return delays


class TestUploadBackoff:
    def test_a_failure_after_progress_starts_the_backoff_again(self) -> None:
        assert upload_delays([False, False, False, True, False]) == [2.0, 4.0, 8.0, 2.0, 4.0]

    def test_no_event_waits_more_than_a_minute_however_long_the_server_is_away(self) -> None:
        delays = upload_delays([False] * 14)
        assert delays[:6] == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0]
        assert max(delays) == MAX_UPLOAD_BACKOFF_S == 60.0


class _StalledOutbox:
    """An agent whose server refuses its outbox for good until someone asks again."""

    def __init__(self) -> None:
        self.acknowledged = 0
        self.outbox_changed = asyncio.Event()
        self.calls: list[str] = []
        self.refused = asyncio.Event()
        self.retried = asyncio.Event()
        self.outbox = self

    def count(self) -> int:
        return 0

    async def upload(self) -> int:
        self.calls.append("upload")
        if len(self.calls) == 1:
            self.refused.set()
            raise OutboxStalledError("device_not_active (401): the device is retired")
        if len(self.calls) == 3:
            self.retried.set()
        return 0


class TestStalledUploads:
    def test_a_refusal_retrying_cannot_change_waits_until_an_upload_is_asked_for(self) -> None:
        agent = _StalledOutbox()
        daemon = Daemon(agent, rng=_Ceiling())  # type: ignore[arg-type]
        timed: list[float] = []

        async def no_timed_retry(seconds: float) -> None:
            timed.append(seconds)

        daemon._sleep = no_timed_retry  # type: ignore[method-assign]

        async def scenario() -> None:
            loop = asyncio.create_task(daemon.upload_loop())
            await agent.refused.wait()  # the loop's first upload, refused for good
            asked = await daemon.handle({"op": "upload"})  # `upload` on the agent's socket
            assert asked["ok"] is True
            await agent.retried.wait()  # and the loop goes on
            loop.cancel()

        asyncio.run(scenario())
        assert agent.calls == ["upload", "upload", "upload"]
        assert timed == []  # never retried on a timer


class TestScreen:
    def test_each_launch_serves_the_screen_and_forgets_the_last(self, daemon: Daemon) -> None:
        import os

        import httpx

        async def launches() -> tuple[int, int, int, int, dict[str, Any]]:
            first = await daemon._ui({"port": 0})
            async with httpx.AsyncClient(follow_redirects=True) as browser:
                opened = await browser.get(first["url"])
                assert opened.url.path == "/"  # the secret has left the address
                home = opened.status_code
                second = await daemon._ui({"port": 0})
                stale = (await browser.get(opened.url)).status_code
                reused = (await browser.get(first["url"])).status_code
            written = daemon.agent.state.read_json("screen.json")
            mode = os.stat(daemon.agent.state.path("screen.json")).st_mode & 0o777
            assert daemon.screen is not None
            await daemon.screen.close()
            return home, stale, reused, mode, {"second": second, "written": written}

        home, stale, reused, mode, seen = asyncio.run(launches())
        assert (home, stale, reused) == (200, 403, 403)
        assert seen["written"] == seen["second"] and mode == 0o600
        assert seen["second"]["url"].startswith("http://127.0.0.1:")

    def test_a_port_out_of_range_is_refused(self, daemon: Daemon) -> None:
        reply = answer(daemon, b'{"op": "ui", "port": 70000}\n')
        assert reply["ok"] is False and "0 to 65535" in reply["message"]
