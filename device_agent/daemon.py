"""`tabard agent --state DIR run`: the long-lived agent. It serves the one-button UI and the
CLI on a Unix socket in the state directory (`agent.sock`, mode 0600: only the device's own
user may talk to it), one JSON request per line and one JSON answer per line, and runs three
loops: check-in (the interval from policy, with jitter, and exponential backoff on failure),
the outbox upload (backing off at most a minute; a refusal retrying cannot change waits until
asked), and the secure side's inactivity and maximum-length lock."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import random
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from device_agent import wakeups
from device_agent.agent import Agent
from device_agent.errors import AgentError, RefusedError, ServerError
from device_agent.executor import fetch_and_run
from device_agent.state import AgentState
from device_agent.upload import OutboxStalledError

if TYPE_CHECKING:
    from device_agent.screen.server import ScreenServer

SOCKET_FILE = "agent.sock"
LOCK_FILE = "agent.lock"
MAX_BACKOFF_S = 900.0
# No event waits longer than this for the server to come back: uploads are small, and the
# audit log is only as current as the slowest outbox.
MAX_UPLOAD_BACKOFF_S = 60.0
MAX_REQUEST_BYTES = 64 * 1024
# 401 codes saying the device is out of service (retired, wiped, certificate revoked).
NO_LONGER_ACCEPTED = ("certificate_revoked", "device_not_active")
# 503 code of a long poll answered because the server is stopping (a restart, say).
SERVER_STOPPING = "server_stopping"
COMMAND_WAIT_S = 25  # the long poll's wait; the server holds it at most 60 s
log = logging.getLogger("tabard.agent")


def jittered(seconds: float, rng: random.Random) -> float:
    """`seconds` give or take 10%, so a fleet does not check in in lockstep."""
    return seconds * rng.uniform(0.9, 1.1)


def backoff(failures: int, base: float, rng: random.Random, *, cap: float = MAX_BACKOFF_S) -> float:
    """Exponential backoff with full jitter (capped), after `failures` failures in a row."""
    return rng.uniform(0, min(cap, base * 2 ** min(failures, 16)))


class Daemon:
    def __init__(self, agent: Agent, *, rng: random.Random | None = None) -> None:
        self.agent = agent
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not secrets)
        self.stopping = asyncio.Event()
        self.upload_asked = asyncio.Event()  # someone asked for an upload: a stall may be over
        self.handlers: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "status": self._status,
            "enter": self._enter,
            "leave": self._leave,
            "transaction": self._transaction,
            "justifications": self._justifications,
            "justify": self._justify,
            "checkin": self._checkin,
            "upload": self._upload,
            "ui": self._ui,
            "stop": self._stop,
        }
        self.screen: ScreenServer | None = None

    async def _status(self, _: dict[str, Any]) -> dict[str, Any]:
        return self.agent.status()

    async def _enter(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.agent.enter(
            collar=str(request["collar"]),
            pin=str(request["pin"]),
            new_pin=request.get("new_pin"),
            acknowledge=request.get("acknowledge"),
        )

    async def _leave(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.agent.leave(str(request.get("reason", "leave")))

    async def _transaction(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.agent.transaction(dict(request["body"]))

    async def _justifications(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"pending": await self.agent.justifications()}

    async def _justify(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.agent.justify(str(request["id"]), str(request["answer"]))

    async def _checkin(self, _: dict[str, Any]) -> dict[str, Any]:
        return await self.agent.check_in()

    async def _upload(self, _: dict[str, Any]) -> dict[str, Any]:
        self.upload_asked.set()
        return {"uploaded": await self.agent.upload(), "pending": self.agent.outbox.count()}

    async def _ui(self, request: dict[str, Any]) -> dict[str, Any]:
        """Serve the screen on loopback (a new launch each time): its launch URL."""
        from device_agent.screen.server import ScreenServer

        port = int(request.get("port", 0))
        if not 0 <= port <= 65535:
            raise ValueError(f"{port} is not a port (0 to 65535; 0 for any free one)")
        if self.screen is None:
            self.screen = ScreenServer(self.agent)
        return await self.screen.launch(port)

    async def _stop(self, _: dict[str, Any]) -> dict[str, Any]:
        self.stopping.set()
        return {"stopping": True}

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        handler = self.handlers.get(str(request.get("op")))
        if handler is None:
            return {
                "ok": False,
                "error": "unknown_op",
                "message": f"no operation {request.get('op')!r}",
            }
        try:
            return {"ok": True, "result": await handler(request)}
        except ServerError as exc:
            return {
                "ok": False,
                "error": exc.code,
                "status": exc.status,
                "message": str(exc),
                "detail": exc.detail,
            }
        except RefusedError as exc:
            return {"ok": False, "error": exc.code, "message": str(exc), "detail": exc.detail}
        except (AgentError, KeyError, TypeError, ValueError) as exc:
            return {"ok": False, "error": "agent_error", "message": str(exc) or type(exc).__name__}

    async def _answer(self, reader: asyncio.StreamReader) -> dict[str, Any]:
        """The answer to one request line; a line past the stream's limit is refused."""
        try:
            line = await reader.readline()
        except ValueError:  # longer than MAX_REQUEST_BYTES
            return {"ok": False, "error": "too_large", "message": "request too large"}
        try:
            request = json.loads(line)
        except json.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            return {"ok": False, "error": "bad_request", "message": "send one JSON object"}
        return await self.handle(request)

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            writer.write(json.dumps(await self._answer(reader)).encode() + b"\n")
            await writer.drain()
        except ConnectionError:
            pass  # the caller hung up before its answer; nothing to tell it
        finally:
            writer.close()

    # --- loops ----------------------------------------------------------------------------
    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    async def _until(self, event: asyncio.Event) -> None:
        """Wait for `event`, or for the daemon to stop."""
        waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self.stopping.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def checkin_loop(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                await self.agent.check_in()
                failures = 0
                delay = jittered(self.agent.record.checkin_interval_s, self.rng)
            except AgentError as exc:
                failures += 1
                delay = backoff(failures, 5.0, self.rng)
                log.warning("check-in failed (%s); next try in %.0f s", exc, delay)
            await self._sleep(delay)

    async def upload_loop(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            self.agent.outbox_changed.clear()
            before = self.agent.acknowledged
            try:
                await self.agent.upload()
                failures = 0
            except OutboxStalledError as exc:
                # Retrying cannot change this answer: the status shows it; try again when asked
                # (or when the agent restarts), not on a timer for ever.
                log.error("the server refuses the outbox (%s); uploads wait until asked", exc)
                failures = 0
                self.upload_asked.clear()
                await self._until(self.upload_asked)
                continue
            except AgentError as exc:
                # A long outbox goes up in several batches: a failure after some got through is
                # the first of a new run, not one more in an old one.
                failures = 1 if self.agent.acknowledged > before else failures + 1
                delay = backoff(failures, 1.0, self.rng, cap=MAX_UPLOAD_BACKOFF_S)
                log.warning("outbox upload failed (%s); next try in %.1f s", exc, delay)
                await self._sleep(delay)
                continue
            with contextlib.suppress(TimeoutError):  # new events, or a minute: upload again
                await asyncio.wait_for(self.agent.outbox_changed.wait(), timeout=60)

    async def command_loop(self) -> None:
        """Keep a long poll open for commands, reconnecting at once (with a little jitter,
        so a fleet does not reconnect in lockstep after a server restart), backing off on
        failure; or, while the server offers a broker, listen there for wake-ups instead
        (device_agent.wakeups), back to the long poll whenever the broker fails. A device
        the server no longer accepts shreds its secure side."""
        failures = 0
        channel: dict[str, Any] | None = None
        wait_s = 0  # the first fetch answers at once: it says whether the server offers a broker
        while not self.stopping.is_set():
            try:
                if channel is None:
                    channel = await self._fetch(wait_s)
                    wait_s = COMMAND_WAIT_S
                else:
                    channel = await wakeups.listen(channel, lambda: self._fetch(0), self.stopping)
                failures = 0
                delay = self.rng.uniform(0, 0.25)
            except wakeups.BrokerUnavailableError as exc:
                log.warning("%s; holding a long poll instead", exc)
                channel = None  # the next poll offers the broker again: one try a poll
                delay = self.rng.uniform(0, 0.25)
            except AgentError as exc:
                if isinstance(exc, ServerError) and exc.code in NO_LONGER_ACCEPTED:
                    log.warning("the server no longer accepts this device (%s)", exc.code)
                    self.agent.shred(reason=exc.code, key_id=self.agent.secure.held_key_id())
                    return
                if isinstance(exc, ServerError) and exc.code == SERVER_STOPPING:
                    # Expected, not a failure: come back as after a first failure, so the
                    # poll neither hammers a server going down nor waits long for its return.
                    failures = 1
                    delay = backoff(failures, 1.0, self.rng)
                    log.info("the server is stopping; polling again in %.1f s", delay)
                else:
                    failures += 1
                    delay = backoff(failures, 1.0, self.rng)
                    log.warning("command poll failed (%s); next try in %.1f s", exc, delay)
            if self.agent.executor.reset_reported:
                log.warning("factory reset carried out; the agent forgets its enrolment")
                self.agent.forget()
                self.stopping.set()
                return
            await self._sleep(delay)

    async def _fetch(self, wait_s: int) -> dict[str, Any] | None:
        """Fetch commands and run them: the wake-up channel the server offers, if usable."""
        _, offered = await fetch_and_run(self.agent, wait_s=wait_s)
        if self.agent.executor.reset_reported:
            self.stopping.set()  # the loop forgets the enrolment
        return offered if wakeups.usable(offered) else None

    async def lock_loop(self) -> None:
        while not self.stopping.is_set():
            await self.agent.lock_if_due()
            await self._sleep(1.0)

    async def run(self) -> None:
        path = self.agent.state.path(SOCKET_FILE)
        path.unlink(missing_ok=True)
        old = os.umask(0o177)
        try:
            server = await asyncio.start_unix_server(
                self._serve_client, path=str(path), limit=MAX_REQUEST_BYTES
            )
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        tasks = [
            asyncio.create_task(job())
            for job in (self.checkin_loop, self.upload_loop, self.command_loop, self.lock_loop)
        ]
        log.info("agent for device %s listening on %s", self.agent.record.device_id, path)
        try:
            await self.stopping.wait()
        finally:
            for task in tasks:
                task.cancel()
            server.close()
            if self.screen is not None:
                await self.screen.close()
            if self.agent.state.is_enrolled:
                await self.agent.leave("agent_stopped")
            await self.agent.close_connections()
            self.agent.close()
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def single_instance(state: AgentState) -> Iterator[None]:
    """One agent per state directory."""
    fd = os.open(state.path(LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AgentError(f"an agent is already running for {state.directory}") from None
        yield
    finally:
        os.close(fd)


def run(state: AgentState, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
    """Run the agent until SIGTERM, SIGINT or a `stop` request."""
    state.enrolment()
    with single_instance(state):

        async def main() -> None:
            await Daemon(Agent(state, transport=transport)).run()

        asyncio.run(main())
