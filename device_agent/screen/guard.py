"""Only the screen may drive the screen. Any app on a phone can reach loopback, so every
request must come from the WebView the agent launched:

- the launch URL (`/launch?key=SECRET`) carries a fresh 32-byte secret; exchanged once (compared
  in constant time), it sets an HttpOnly, SameSite=Strict cookie bound to this launch and
  redirects to `/`, so the secret leaves the address bar;
- every request needs that cookie; one from an earlier launch is stale and refused;
- the Host header must name this port on loopback (a DNS-rebinding page sends its own name);
- a change (POST) must come from this origin and carry the launch's CSRF token in its form.

Everything else gets 403 and a plain page. Every answer carries a strict Content Security
Policy (the console's rules: this server's own scripts, styles and images only, no framing),
and pages `Cache-Control: no-store`: they hold police data."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "tabard_screen"
CSRF_FIELD = "csrf"
MAX_FORM_BYTES = 64 * 1024
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # "no-referrer" would make POSTs Origin: null
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
REFUSED_PAGE = (
    "<!doctype html><html lang='en-GB'><head><meta charset='utf-8'><title>Refused</title></head>"
    "<body><main><h1>Refused</h1><p>{reason}</p><p>Open the secure side from the device's "
    "Tabard app.</p></main></body></html>"
)


def _token() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class Launch:
    """One launch of the screen: the secret in its URL (until exchanged), the cookie it sets,
    and the CSRF token its forms carry. A new launch forgets the previous one."""

    port: int
    secret: str | None = field(default_factory=_token)
    session: str = field(default_factory=_token)
    csrf: str = field(default_factory=_token)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/launch?key={self.secret}"

    def exchange(self, key: str) -> bool:
        """Whether `key` is this launch's secret; it works once."""
        secret, self.secret = self.secret, None
        if secret is None or not hmac.compare_digest(key.encode(), secret.encode()):
            self.secret = secret
            return False
        return True

    def hosts(self) -> tuple[str, str]:
        return f"127.0.0.1:{self.port}", f"localhost:{self.port}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cookie(scope: Scope) -> str | None:
    for part in (_header(scope, b"cookie") or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return None


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class ScreenGuard:
    """The guard in front of the screen's app (pure ASGI, so it sees every request first)."""

    def __init__(self, app: ASGIApp, launch: Callable[[], Launch]) -> None:
        self.app = app
        self.launch = launch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
            return
        launch = self.launch()
        host = _header(scope, b"host")
        if host not in launch.hosts():
            await _refuse(send, "This address is not the device's own screen.")
            return
        static = scope["path"].startswith("/static/")
        if scope["path"] == "/launch":
            await self.app(scope, receive, _secured(send, static=False))
            return
        if not _same(_cookie(scope), launch.session):
            await _refuse(send, "This screen was not opened by the device, or it has expired.")
            return
        method = scope["method"]
        if method in ("GET", "HEAD"):
            await self.app(scope, receive, _secured(send, static=static))
            return
        if method != "POST" or _header(scope, b"origin") != f"http://{host}":
            await _refuse(send, "Changes are accepted only from this screen.")
            return
        body = await _read_form(scope, receive)
        if body is None or not _same(_csrf_of(body), launch.csrf):
            await _refuse(send, "This form has expired; go back and try again.")
            return
        await self.app(scope, _replay(body), _secured(send, static=False))


def _csrf_of(body: bytes) -> str | None:
    values = parse_qs(body.decode("utf-8", errors="replace")).get(CSRF_FIELD, [])
    return values[0] if len(values) == 1 else None


async def _read_form(scope: Scope, receive: Receive) -> bytes | None:
    """The whole form body, or None if it is not a form or is too large."""
    kind = (_header(scope, b"content-type") or "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if len(body) > MAX_FORM_BYTES:
            return None
        if not message.get("more_body"):
            return body


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _secured(send: Send, *, static: bool) -> Callable[[Message], Awaitable[None]]:
    async def with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [
                (k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"
            ]
            cache = b"private, max-age=3600" if static else b"no-store"
            message["headers"] = [*headers, *HEADERS, (b"cache-control", cache)]
        await send(message)

    return with_headers


async def _refuse(send: Send, reason: str) -> None:
    body = REFUSED_PAGE.format(reason=reason).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *HEADERS,
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
