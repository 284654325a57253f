"""The agent's connections to the server: one pool, kept between requests, over a real socket
to a small HTTP/1.1 server that counts the connections it is given."""

from __future__ import annotations

import asyncio
import json

from device_agent.client import ServerClient, connections

CA = {"certificate": "-----BEGIN CERTIFICATE-----", "sha256": "00"}


class CountingServer:
    """Answers every GET with the same JSON, keeping each connection open for the next."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        body = json.dumps(CA).encode()
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                self.requests += 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def test_clients_lent_one_pool_share_one_connection() -> None:
    async def scenario() -> tuple[int, int, bool]:
        counting = CountingServer()
        async with counting as url:
            pool = connections(url)
            for _ in range(3):
                async with ServerClient(url, http=pool) as client:
                    assert await client.fetch_ca() == CA
            still_open = not pool.is_closed  # a lent pool outlives the clients it was lent to
            await pool.aclose()
        return counting.connections, counting.requests, still_open

    opened, served, still_open = asyncio.run(scenario())
    assert (opened, served, still_open) == (1, 3, True)


def test_a_client_of_its_own_opens_and_closes_its_own_connection() -> None:
    async def scenario() -> tuple[int, int]:
        counting = CountingServer()
        async with counting as url:
            for _ in range(3):
                async with ServerClient(url) as client:
                    assert await client.fetch_ca() == CA
        return counting.connections, counting.requests

    assert asyncio.run(scenario()) == (3, 3)
