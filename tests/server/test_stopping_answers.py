"""A request still running when a stop's graceful wait runs out. uvicorn cancels it, and would
answer 500 and log an error; RequestContextMiddleware answers it 503 `server_stopping` with
`Retry-After` instead, as a held poll is answered when the server stops. Over a real socket, on
a real uvicorn told to stop."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from mdm_server.middleware import RequestContextMiddleware
from tests.e2e.harness import free_port
from tests.support import wait_for


class Stuck:
    """An application that never answers (or answers half, when told): a check-in waiting on a
    row lock, say."""

    def __init__(self, *, half: bool = False) -> None:
        self.half = half
        self.entered = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if self.half:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        self.entered.set()
        await asyncio.Event().wait()


@contextmanager
def serving(app: Stuck) -> Iterator[tuple[uvicorn.Server, str]]:
    port = free_port()
    config = uvicorn.Config(
        RequestContextMiddleware(app, access_log=False),
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=0.2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), "the server to start")
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def ask(url: str, answers: list[httpx.Response | Exception]) -> threading.Thread:
    def asking() -> None:
        try:
            answers.append(httpx.get(url + "/api/v1/device/checkin", timeout=10))
        except httpx.HTTPError as error:
            answers.append(error)

    thread = threading.Thread(target=asking, daemon=True)
    thread.start()
    return thread


def test_a_request_cut_short_by_a_stop_is_told_to_come_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Stuck()
    answers: list[httpx.Response | Exception] = []
    with caplog.at_level(logging.ERROR, logger="uvicorn.error"), serving(app) as (server, url):
        asking = ask(url, answers)
        assert app.entered.wait(10), "the request did not reach the application"
        server.should_exit = True
        asking.join(10)
    [answer] = answers
    assert isinstance(answer, httpx.Response), answer
    assert answer.status_code == 503
    assert answer.json() == {
        "error": "server_stopping",
        "detail": "the server is stopping; try again in a moment",
    }
    assert answer.headers["retry-after"] == "2"
    assert answer.headers["x-request-id"]
    assert "Exception in ASGI application" not in caplog.text


def test_half_an_answer_is_cut_off_not_finished_as_another() -> None:
    """An answer already begun cannot become a 503: the cancellation goes on to uvicorn, which
    closes the connection, and nothing more is sent."""
    app = Stuck(half=True)
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def cut_short() -> None:
        scope = {"type": "http", "method": "GET", "path": "/api/v1/ready", "headers": []}
        running = asyncio.create_task(
            RequestContextMiddleware(app, access_log=False)(scope, receive, send)  # type: ignore[arg-type]
        )
        while not app.entered.is_set():
            await asyncio.sleep(0)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(cut_short())
    assert [message["type"] for message in sent] == ["http.response.start"]
    assert sent[0]["status"] == 200
