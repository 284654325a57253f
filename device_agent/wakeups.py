"""Hearing of commands from a NATS broker instead of holding a long poll
(docs/device-protocol.md section 8.6).

When the server's answer to a command fetch names a wake-up channel (a broker URL and this
device's subject), the agent subscribes there and, on each message, fetches its commands
(`wait=0`) over the authenticated API. A message carries nothing: it only says "look", so
the broker is trusted for timeliness, never for content, and a forged one costs a fetch. The
agent also fetches once subscribed (for what was queued before), and at least every
REFETCH_S, which catches a wake-up the broker lost and learns whether the server still offers
the broker. Check-in stays the fallback behind both."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import nats
from nats.errors import Error as NatsError

from device_agent.errors import AgentError

REFETCH_S = 900.0  # check-in (every 5 minutes by default) carries envelopes in between
CONNECT_TIMEOUT_S = 5
Channel = dict[str, Any]
Fetch = Callable[[], Awaitable[Channel | None]]
log = logging.getLogger("tabard.agent")


class BrokerUnavailableError(AgentError):
    """The broker could not be reached, or was lost: go back to the long poll."""


def usable(channel: Channel | None) -> bool:
    """Whether an offered channel is one this agent can listen on."""
    return (
        channel is not None
        and isinstance(channel.get("url"), str)
        and channel["url"].startswith("nats://")
        and isinstance(channel.get("subject"), str)
        and bool(channel["subject"])
    )


async def listen(channel: Channel, fetch: Fetch, stopping: asyncio.Event) -> Channel | None:
    """Listen on `channel`, calling `fetch` (which runs what it brings and answers the channel
    the server now offers) once subscribed, on each wake-up, and every REFETCH_S. Returns the
    offered channel when it is no longer `channel`, or None once `stopping`; raises
    BrokerUnavailableError when the broker cannot be reached or is lost."""
    woken = asyncio.Event()
    lost = asyncio.Event()

    async def on_message(_: Any) -> None:
        woken.set()  # several wake-ups before the fetch: one fetch brings every command

    async def on_lost(*_: Any) -> None:
        lost.set()

    async def on_error(exc: Exception) -> None:
        log.debug("command broker: %s", exc)

    try:
        client = await asyncio.wait_for(  # nats-py may retry an unreachable broker for ever
            nats.connect(
                channel["url"],
                name="tabard-agent",
                connect_timeout=CONNECT_TIMEOUT_S,
                allow_reconnect=False,  # a lost broker means the long poll, not a silent gap
                max_reconnect_attempts=1,  # one try (nats-py reads 0 as for ever)
                reconnect_time_wait=0.2,
                disconnected_cb=on_lost,
                closed_cb=on_lost,
                error_cb=on_error,
            ),
            timeout=CONNECT_TIMEOUT_S * 2,
        )
    except (NatsError, OSError, TimeoutError) as exc:
        raise BrokerUnavailableError(f"cannot reach the command broker ({exc})") from exc
    try:
        await client.subscribe(channel["subject"], cb=on_message)
        await client.flush(timeout=CONNECT_TIMEOUT_S)  # subscribed before the first fetch
        log.info("listening for command wake-ups on %s", channel["url"])
        while not stopping.is_set():
            woken.clear()
            offered = await fetch()
            if offered != channel:
                return offered
            await _first_of(woken, lost, stopping, timeout=REFETCH_S)
            if lost.is_set():
                raise BrokerUnavailableError("lost the command broker")
        return None
    except (NatsError, OSError, TimeoutError) as exc:
        raise BrokerUnavailableError(f"lost the command broker ({exc})") from exc
    finally:
        with contextlib.suppress(NatsError, OSError, TimeoutError):
            await client.close()


async def _first_of(*events: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
