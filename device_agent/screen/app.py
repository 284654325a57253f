"""The screen's pages: the personal home with the one button and the device's standing, the
gate (collar number, PIN pad, first-entry PIN change, the appropriate-use policy), OPTIK's
secure home and apps, leaving, and the small `/state` poll the pages follow. Served only to
the WebView that launched it (device_agent.screen.guard); driven through the same Agent as
the daemon's socket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from device_agent.errors import AgentError, RefusedError, ServerError
from device_agent.screen import words
from device_agent.screen.guard import COOKIE, CSRF_FIELD, REFUSED_PAGE, Launch

if TYPE_CHECKING:
    from device_agent.agent import Agent

HERE = Path(__file__).parent
PENDING_FOR = timedelta(minutes=5)
# Leaving clears what the browser may hold for this origin (the cookie is not storage).
CLEAR_SITE_DATA = '"cache", "storage"'
SWITCHED = "switched_to_personal"


@dataclass
class PendingEntry:
    """An entry the gate has asked more of (a new PIN, an acknowledgement): held in the
    agent's memory, never in the page, for a few minutes."""

    collar: str
    pin: str
    started: datetime
    new_pin: str | None = None


class Screen:
    """What the screen's pages share: the agent, the current launch, a pending entry."""

    def __init__(self, agent: Agent, launch: Launch) -> None:
        self.agent = agent
        self.launch = launch
        self.pending: PendingEntry | None = None
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters["shown"] = words.shown
        self.templates.filters["day"] = words.day
        self.templates.filters["refusal"] = lambda code: words.refusal(str(code), None, "")

    def relaunch(self, launch: Launch) -> None:
        """A new launch: the previous one's cookie and forms no longer work."""
        self.launch = launch
        self.pending = None

    def page(self, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        status = self.agent.status()
        body = self.templates.get_template(name).render(
            csrf=self.launch.csrf, csrf_field=CSRF_FIELD, status=status, **context
        )
        return HTMLResponse(body, status_code=status_code)

    def is_open(self) -> bool:
        return self.agent.secure.open is not None

    def touch(self) -> None:
        """The officer is using the secure side: the inactivity lock starts again."""
        side = self.agent.secure.open
        if side is not None:
            side.last_activity = self.agent.clock()

    def take_pending(self) -> PendingEntry | None:
        pending = self.pending
        if pending is not None and self.agent.clock() - pending.started > PENDING_FOR:
            self.pending = pending = None
        return pending


def sentence(exc: AgentError) -> str:
    """An error from the agent or the server as a sentence saying what to do next."""
    if isinstance(exc, ServerError | RefusedError):
        return words.refusal(exc.code, exc.detail, _message(exc))
    if "locked" in str(exc):
        return "The secure side is locked. Enter it again to carry on."
    return words.refusal("unreachable", None, "")


def _message(exc: ServerError | RefusedError) -> str:
    from device_agent.agent import refusal_message

    return refusal_message(exc)


async def form_of(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def screen_of(request: Request) -> Screen:
    screen: Screen = request.app.state.screen
    return screen


async def launch(request: Request) -> Response:
    """Exchange the launch secret for the launch's cookie; the secret leaves the address."""
    screen = screen_of(request)
    if not screen.launch.exchange(request.query_params.get("key", "")):
        reason = "This launch link is not valid, or it was already used."
        return HTMLResponse(REFUSED_PAGE.format(reason=reason), status_code=403)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE, screen.launch.session, httponly=True, samesite="strict", path="/", secure=False
    )
    return response


async def home(request: Request) -> Response:
    """The personal home: the one button, and the device's standing in words."""
    screen = screen_of(request)
    tone, headline, meaning = words.standing(screen.agent.status())
    return screen.page(
        "home.html", tone=tone, headline=headline, meaning=meaning, is_open=screen.is_open()
    )


async def state(request: Request) -> Response:
    """What the pages follow: open or locked, seconds until the inactivity lock, and why it
    last locked (polled each second; does not count as activity)."""
    screen = screen_of(request)
    status = screen.agent.status()
    left = None
    if status["locks_at"] is not None:
        remaining = datetime.fromisoformat(status["locks_at"]) - screen.agent.clock()
        left = max(0, int(remaining.total_seconds()))
    return JSONResponse(
        {
            "secure_side": status["secure_side"],
            "seconds_left": left,
            "message": words.lock_reason(status["last_lock"]),
        }
    )


async def leave(request: Request) -> Response:
    """Leave the secure side: it locks, and the browser forgets what it held. The page going
    hidden says so (the officer switched to the personal side)."""
    hidden = (await form_of(request)).get("why") == SWITCHED
    await screen_of(request).agent.leave(SWITCHED if hidden else "leave")
    return RedirectResponse(
        "/locked", status_code=303, headers={"Clear-Site-Data": CLEAR_SITE_DATA}
    )


async def locked(request: Request) -> Response:
    """Where leaving and locking land: why it locked, and nothing of what was open."""
    screen = screen_of(request)
    if screen.is_open():
        return RedirectResponse("/secure", status_code=303)
    message = words.lock_reason(screen.agent.status()["last_lock"])
    response = screen.page("locked.html", message=message or "The secure side is locked.")
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    return response


def base_routes() -> list[Route]:
    return [
        Route("/launch", launch),
        Route("/", home),
        Route("/state", state),
        Route("/leave", leave, methods=["POST"]),
        Route("/locked", locked),
    ]
