"""The console's response headers and error pages.

Every console response carries a Content Security Policy that lets the page load scripts,
styles and images from this server alone and send nothing anywhere else, so a stray
`<script src=https://...>` or an injected inline script does not run, and no page can be
framed. Where a force names its own map server (TABARD_MAP_URL), the page may also load map
outlines from that one origin. Errors under /console are pages, not JSON; a missing session
goes to sign-in."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mdm_server.console.access import viewer_of
from mdm_server.console.navigation import menu_for
from mdm_server.console.templating import is_htmx, plain, render

PREFIX = "/console"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class ConsoleHeadersMiddleware:
    """Adds the console's security headers, and `no-store` to every page (pages show
    personal data; a shared tablet's back button must not show them after sign-out)."""

    def __init__(self, app: ASGIApp, *, map_origin: str | None = None) -> None:
        self.app = app
        self.headers = list(_HEADERS)
        if map_origin is not None:  # the force's own map server, and nothing else beyond
            policy = CONTENT_SECURITY_POLICY.replace(
                "connect-src 'self'", f"connect-src 'self' {map_origin}"
            )
            self.headers[0] = (b"content-security-policy", policy.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        static = path.startswith(PREFIX + "/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *self.headers]
                cache = b"public, max-age=3600" if static else b"no-store"
                headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                headers.append((b"cache-control", cache))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _redirect(request: Request, to: str) -> Response:
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": to})
    return RedirectResponse(to, status_code=303)


def _came_from(request: Request) -> str:
    """The console page the person acted from (the Referer, sent same-origin only), to go back
    to after a step-up; the action's own address if that was a page, else nothing."""
    referer = urlsplit(request.headers.get("referer", ""))
    own = urlsplit(str(request.base_url))
    if referer.netloc == own.netloc and referer.path.startswith(f"{PREFIX}/"):
        return referer.path + (f"?{referer.query}" if referer.query else "")
    if request.method == "GET":
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return ""


def render_error(
    request: Request, status: int, code: str, detail: Any, headers: dict[str, str]
) -> Response:
    """An error as a page in the console's own furniture (the signed-in person's menu, name
    and sign-out, and a way back to their own start page); sign-in, password changes and
    setting up a second factor as redirects."""
    if code == "sign_in_required":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return _redirect(request, f"{PREFIX}/login?next={quote(target, safe='')}")
    if code == "password_change_required":
        return _redirect(request, f"{PREFIX}/password")
    if code == "second_factor_enrolment_required":
        return _redirect(request, f"{PREFIX}/second-factor")
    if code == "step_up_required":
        back = _came_from(request)
        return _redirect(request, f"{PREFIX}/step-up?next={quote(back, safe='')}")
    headers.pop("WWW-Authenticate", None)
    problems = detail if isinstance(detail, list) else []
    message = detail if isinstance(detail, str) else ""
    if isinstance(detail, dict):  # a message, and what else the error says, in words
        rest = {key: value for key, value in detail.items() if key != "message"}
        message = plain(detail.get("message") or rest)
        if detail.get("message") and rest:
            message += f" ({plain(rest)})"
    if status == 404 and code == "not_found" and message.startswith("no route for "):
        message = "there is no page at this address; check it, or start again from the menu"
    viewer = viewer_of(request)
    home = next(iter(menu_for(viewer.role)), None) if viewer is not None else None
    return render(
        request,
        "error.html",
        principal=viewer,
        status_code=status,
        headers=headers,
        status=status,
        code=code,
        message=message,
        problems=problems,
        home=home,
        action=request.method != "GET",  # a form was refused, not a page missing
        back=_came_from(request) if request.method != "GET" else "",
    )
