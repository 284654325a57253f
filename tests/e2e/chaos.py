"""An unreliable network for the end-to-end tests: a loopback HTTP/1.1 proxy in front of a
`tabard serve` that, for requests under one path, fails a share of them at random. A request
is answered 503 without reaching the server, cut before it reaches the server, or passed to
the server and its answer thrown away (the server acted; the client never heard). The test
can also hold one request until it has killed the client, then let it through.

One request per connection (`Connection: close`), which is all the agent's client needs."""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

FATES = ("pass", "refuse", "cut", "lose_answer")
_REFUSAL = b'{"error":"service_unavailable","detail":"the network failed this request"}'
_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    + f"content-length: {len(_REFUSAL)}\r\nconnection: close\r\n\r\n".encode()
    + _REFUSAL
)


@dataclass
class Hold:
    """One request kept waiting: `arrived` when it reaches the proxy; it then waits for
    `release()`, meets `fate`, and `done` is set."""

    fate: str
    nth: int
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


class FlakyProxy:
    def __init__(
        self,
        upstream_port: int,
        *,
        path: str,
        seed: int,
        refuse: float = 0.2,
        cut: float = 0.15,
        lose_answer: float = 0.2,
        most_in_a_row: int = 3,
    ) -> None:
        self.upstream_port = upstream_port
        self.path = path.encode()
        self.rng = random.Random(seed)
        self.weights = (1 - refuse - cut - lose_answer, refuse, cut, lose_answer)
        self.most_in_a_row = most_in_a_row
        self.fates: Counter[str] = Counter()
        self._failed_in_a_row = 0
        self.port = 0
        self._hold: Hold | None = None
        self._matching = 0
        self._guard = threading.Lock()
        self._open: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextmanager
    def running(self) -> Iterator[FlakyProxy]:
        self._thread.start()
        if not self._ready.wait(10):
            raise AssertionError("the proxy did not start")
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            self._thread.join(timeout=10)

    def hold(self, *, nth: int = 1, fate: str = "pass") -> Hold:
        """Keep the `nth` matching request from now on waiting until released."""
        with self._guard:
            self._matching = 0
            self._hold = Hold(fate=fate, nth=nth)
            return self._hold

    # --- the proxy ------------------------------------------------------------------------
    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _shutdown(self) -> None:
        """Stop listening and end the connections still open (an agent's long poll for
        commands, say) inside the loop, then stop it."""
        self._server.close()
        for writer in list(self._open):
            writer.transport.abort()  # each handler then sees its connection drop and ends
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 5)
        self._loop.stop()

    def _decide(self, request_line: bytes) -> tuple[str, Hold | None]:
        with self._guard:
            if b" " + self.path not in request_line:
                return "pass", None
            self._matching += 1
            hold = self._hold
            if hold is not None and self._matching == hold.nth:
                self._hold = None
                return hold.fate, hold
            fate = self.rng.choices(FATES, self.weights)[0]
            if fate != "pass" and self._failed_in_a_row >= self.most_in_a_row:
                fate = "pass"  # a bad network, not a dead one: the agent's backoff stays short
            self._failed_in_a_row = 0 if fate == "pass" else self._failed_in_a_row + 1
            return fate, None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hold: Hold | None = None
        self._open.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            fate, hold = self._decide(head.split(b"\r\n", 1)[0])
            if hold is not None:
                hold.arrived.set()
                await asyncio.get_running_loop().run_in_executor(None, hold.released.wait)
            with self._guard:
                self.fates[fate] += 1
            if fate == "refuse":
                writer.write(_UNAVAILABLE)
                await writer.drain()
            elif fate in ("pass", "lose_answer"):
                answer = await self._forward(_closing(head) + body)
                if fate == "pass":
                    writer.write(answer)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            with self._guard:
                self.fates[f"error:{type(exc).__name__}"] += 1
        finally:
            self._open.discard(writer)
            if hold is not None:
                hold.done.set()
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()

    async def _forward(self, request: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._open.add(writer)
        try:
            writer.write(request)
            await writer.drain()
            return await reader.read()  # the server closes after one answer
        finally:
            self._open.discard(writer)
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()


def _closing(head: bytes) -> bytes:
    """The request head with `Connection: close`, so the server ends the exchange."""
    lines = [
        line
        for line in head.rstrip(b"\r\n").split(b"\r\n")
        if not line.lower().startswith(b"connection:")
    ]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n"
