"""Command wake-ups over the NATS broker (mdm_server.commands.broker), against the real broker
on loopback: the subject is opaque, the message is empty, and it goes out once the command's
transaction commits, from the worker that queued it."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.commands.broker import (
    SUBJECT_PREFIX,
    BrokerPublisher,
    device_url,
    wakeup_subject,
)
from mdm_server.db import Database
from mdm_server.main import create_app
from tests.broker import broker_url, hearing
from tests.conftest import FakeClock, make_settings
from tests.factories.commands import open_envelope, poll, send
from tests.factories.devices import SimulatedDevice
from tests.factories.enrolment import create_token
from tests.factories.staff import headers_for
from tests.support import wait_for

KEY = bytes(range(32))


class TestWakeupSubject:
    def test_the_subject_is_stable_and_says_nothing_of_the_device(self) -> None:
        device = uuid.uuid4()
        subject = wakeup_subject(KEY, device)
        assert subject == wakeup_subject(KEY, device)
        assert subject.startswith(SUBJECT_PREFIX)
        assert device.hex not in subject and str(device) not in subject
        assert len(subject) - len(SUBJECT_PREFIX) == 32  # 128 bits, hex

    def test_each_device_and_each_key_has_its_own_subject(self) -> None:
        one, other = uuid.uuid4(), uuid.uuid4()
        assert wakeup_subject(KEY, one) != wakeup_subject(KEY, other)
        assert wakeup_subject(KEY, one) != wakeup_subject(bytes(32), one)

    def test_devices_are_never_told_the_servers_broker_credentials(self) -> None:
        assert device_url("nats://tabard:s3cret@broker.example:4222") == (
            "nats://broker.example:4222"
        )
        assert device_url("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"


class TestBrokerPublisher:
    def test_a_wake_up_published_from_another_thread_reaches_the_subject_empty(self) -> None:
        url = broker_url()
        device = uuid.uuid4()
        publisher = BrokerPublisher(url, KEY)
        loop = asyncio.new_event_loop()
        running = threading.Thread(target=loop.run_forever, daemon=True)
        running.start()
        try:
            asyncio.run_coroutine_threadsafe(publisher.start(), loop).result(10)
            wait_for(lambda: publisher._client is not None, "the publisher to connect")
            with hearing(url, wakeup_subject(KEY, device)) as heard:
                publisher.publish([device])  # from this thread, as a request's commit does
                wait_for(lambda: heard.payloads, "the wake-up")
            assert heard.payloads == [b""]
        finally:
            asyncio.run_coroutine_threadsafe(publisher.close(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            running.join(timeout=10)
            loop.close()

    def test_a_broker_that_is_down_does_not_stop_the_publisher(self, tmp_path: Path) -> None:
        publisher = BrokerPublisher("nats://127.0.0.1:9", KEY)  # nothing listens on port 9

        async def start_and_publish() -> None:
            await publisher.start()
            publisher.publish([uuid.uuid4()])  # left to the fallback, not raised
            await publisher.close()

        asyncio.run(start_and_publish())


class TestServerWithBroker:
    @pytest.fixture
    def live(
        self, committed_database: Database, tmp_path: Path, clock: FakeClock
    ) -> Iterator[tuple[FastAPI, TestClient, SimulatedDevice]]:
        settings = make_settings(tmp_path / "data", command_broker_url=broker_url())
        app = create_app(settings, database=committed_database, clock=clock)
        with TestClient(app) as client:
            device = SimulatedDevice()
            token = create_token(client, headers_for(app, "it_admin"))["token"]
            assert device.enrol(client, token).status_code == 201
            publisher = app.state.context.wakeups.publisher
            wait_for(lambda: publisher._client is not None, "the server to reach the broker")
            yield app, client, device

    def test_a_queued_command_wakes_the_devices_subject_and_the_fetch_brings_it(
        self, live: tuple[FastAPI, TestClient, SimulatedDevice], clock: FakeClock
    ) -> None:
        app, client, device = live
        answer = poll(client, device, now=clock())
        channel = answer.json()["wakeup"]
        assert channel["url"] == broker_url()
        assert device.device_id not in channel["subject"]
        with hearing(channel["url"], channel["subject"]) as heard:
            sent = send(client, headers_for(app, "it_admin"), device.serial, "lock_secure_side")
            wait_for(lambda: heard.payloads, "the wake-up")
        assert heard.payloads == [b""]  # nothing of the command travels by the broker
        (envelope,) = poll(client, device, now=clock()).json()["commands"]
        claims = open_envelope(client, envelope, device_id=device.device_id, now=clock())
        assert claims["command_id"] == sent["id"]


class TestServerWithoutBroker:
    def test_a_poll_offers_no_broker_when_none_is_configured(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        answer = poll(client, enrolled, now=clock())
        assert answer.json() == {"commands": []}
