"""Pure ASGI middleware: request ids with an access log, a request body size limit, and the
headers every answer carries."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mdm_server import logs, metrics
from mdm_server.errors import error_body
from mdm_server.stopping import STOPPING_RETRY_AFTER_S

access_log = logging.getLogger("tabard.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    """Gives every request an id (the caller's `X-Request-ID` if sane), echoes it back, and
    writes one access-log line. Headers are never logged: they carry bearer tokens.

    When a stop's graceful wait runs out, uvicorn cancels the requests still running and
    answers each one not yet answered 500, logging it as an error. A request cut short so is
    answered here instead, as a held poll is when the server stops: 503 `server_stopping`
    with `Retry-After`, come back in a moment. What it had not committed is rolled back."""

    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        answered = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        token = logs.request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            if answered:
                raise  # half an answer: uvicorn closes the connection
            await _reply(
                send_with_id,
                503,
                "server_stopping",
                "the server is stopping; try again in a moment",
                headers=[(b"retry-after", str(STOPPING_RETRY_AFTER_S).encode())],
            )
        finally:
            elapsed = time.perf_counter() - started
            metrics.observe_request(scope["method"], metrics.route_of(scope), status, elapsed)
            if self.access_log and access_log.isEnabledFor(logging.INFO):
                client = scope.get("client") or ("-", 0)
                access_log.info(
                    "%s %s %s %d %.1fms %s",
                    client[0],
                    scope["method"],
                    scope["path"],
                    status,
                    elapsed * 1000,
                    request_id,
                    extra={
                        "client": client[0],
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 1),
                    },
                )
            logs.request_id.reset(token)


API_PREFIX = "/api/"
# Public material anyone may fetch, the same for every caller, that changes only when keys
# rotate: a verifier may keep it a few minutes. Every other API answer is `no-store`.
CACHEABLE: dict[str, bytes] = {
    "/api/v1/ca": b"public, max-age=300",
    "/api/v1/audit/verifier-key": b"public, max-age=300",
}
NO_STORE = b"no-store"


class ResponseHeadersMiddleware:
    """`X-Content-Type-Options: nosniff` on every answer, so no browser reads JSON or a
    download as a page; and `Cache-Control: no-store` on every API answer, which carry tokens
    and personal data that no proxy or browser cache may keep (RFC 9111 section 5.2.2.5),
    except a successful answer of public material listed in CACHEABLE."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        api = path.startswith(API_PREFIX)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if api:
                    ok = 200 <= message["status"] < 300
                    cache = CACHEABLE.get(path, NO_STORE) if ok else NO_STORE
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", cache))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyTooLargeError(HTTPException):
    """Raised mid-stream. An HTTPException, so FastAPI's body reader lets it through to the
    error handler instead of turning it into a generic 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body exceeds {max_bytes} bytes")


class BodyLimitMiddleware:
    """Refuses request bodies over `max_bytes` with 413, by declared length or as they stream.
    Paths in `larger` (an APK upload, say) have a limit of their own."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.larger.get(scope["path"], self.max_bytes)
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _reply(send, 400, "invalid_request", "Content-Length is not a number")
                return
            if int(declared) > max_bytes:
                await self._too_large(send, max_bytes)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLargeError(max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError:
            if started:
                raise
            await self._too_large(send, max_bytes)

    async def _too_large(self, send: Send, max_bytes: int) -> None:
        await _reply(send, 413, "payload_too_large", f"request body exceeds {max_bytes} bytes")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _reply(
    send: Send,
    status: int,
    code: str,
    detail: Any,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(error_body(code, detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
