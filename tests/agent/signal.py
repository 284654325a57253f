"""The phone's signal for agent tests: a transport to the server in process that can be cut,
and can lose the server's answer after the server has acted on it."""

from __future__ import annotations

import httpx
from fastapi import FastAPI


class Signal(httpx.AsyncBaseTransport):
    """The phone's signal: up or down, and able to lose the server's answer to a transaction
    after the server has acted on it (the crash between sending and marking)."""

    def __init__(self, app: FastAPI) -> None:
        self.server = httpx.ASGITransport(app=app)
        self.up = True
        self.lose_answers = 0
        self.transactions = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("network is unreachable", request=request)
        response = await self.server.handle_async_request(request)
        if request.url.path.endswith("/transactions"):
            self.transactions += 1
            if self.lose_answers:
                self.lose_answers -= 1
                raise httpx.ReadError("connection reset", request=request)
        return response
