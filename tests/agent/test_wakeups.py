"""The agent listening for command wake-ups on the real NATS broker (device_agent.wakeups):
it fetches once subscribed and again on each wake-up, goes back to the server's word when the
offered channel changes, and gives way to the long poll when the broker is not there."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import nats
import pytest

from device_agent.wakeups import BrokerUnavailableError, listen, usable
from tests.broker import broker_url

WAIT_S = 10.0  # the longest any step may take before the test fails


def channel(url: str) -> dict[str, Any]:
    return {"url": url, "subject": f"tabard.wake.test{uuid.uuid4().hex}"}


async def publish(url: str, subject: str) -> None:
    client = await nats.connect(url)
    await client.publish(subject, b"")
    await client.flush()
    await client.close()


class TestListen:
    def test_it_fetches_once_subscribed_and_again_on_each_wake_up(self) -> None:
        url = broker_url()
        offered = channel(url)

        async def scenario() -> tuple[int, dict[str, Any] | None]:
            fetches: list[asyncio.Event] = [asyncio.Event() for _ in range(3)]
            count = 0
            stopping = asyncio.Event()

            async def fetch() -> dict[str, Any] | None:
                nonlocal count
                fetches[count].set()
                count += 1
                return offered if count < 3 else None  # the third: the server stopped offering

            listening = asyncio.create_task(listen(offered, fetch, stopping))
            await asyncio.wait_for(fetches[0].wait(), WAIT_S)  # once subscribed
            await publish(url, offered["subject"])
            await asyncio.wait_for(fetches[1].wait(), WAIT_S)
            await publish(url, offered["subject"])
            result = await asyncio.wait_for(listening, WAIT_S)
            return count, result

        fetched, result = asyncio.run(scenario())
        assert fetched == 3
        assert result is None  # back to the long poll

    def test_a_broker_that_is_not_there_sends_the_agent_back_to_the_long_poll(self) -> None:
        async def fetch() -> dict[str, Any] | None:
            raise AssertionError("nothing to fetch without a broker")

        with pytest.raises(BrokerUnavailableError):
            asyncio.run(listen(channel("nats://127.0.0.1:9"), fetch, asyncio.Event()))


class TestUsable:
    def test_only_a_nats_url_with_a_subject_is_listened_on(self) -> None:
        assert usable({"url": "nats://127.0.0.1:4222", "subject": "tabard.wake.ab"})
        assert not usable(None)
        assert not usable({"url": "mqtt://127.0.0.1:1883", "subject": "tabard.wake.ab"})
        assert not usable({"url": "nats://127.0.0.1:4222", "subject": ""})
        assert not usable({"url": "nats://127.0.0.1:4222"})
