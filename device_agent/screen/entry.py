"""The gate on the screen: collar number and PIN, then whatever the server asks for before it
opens (a new PIN on first entry, the appropriate-use policy read and acknowledged), each
refusal in plain words. Every step walks the real gate, Agent.enter."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from device_agent.errors import AgentError, RefusedError, ServerError
from device_agent.screen.app import PendingEntry, Screen, form_of, screen_of, sentence

PIN_PROMPTS = ("pin_change_required", "acknowledgement_required")


async def enter_form(request: Request) -> Response:
    """Collar number and the PIN pad."""
    screen = screen_of(request)
    if screen.is_open():
        return RedirectResponse("/secure", status_code=303)
    screen.pending = None
    return screen.page("enter.html", error=None, collar="")


async def enter(request: Request) -> Response:
    """Press the button: try the gate with this collar number and PIN."""
    screen = screen_of(request)
    form = await form_of(request)
    collar, pin = form.get("collar", "").strip(), form.get("pin", "").strip()
    if not collar or not pin:
        return screen.page(
            "enter.html", 422, error="Enter your collar number and your PIN.", collar=collar
        )
    screen.pending = PendingEntry(collar, pin, screen.agent.clock())
    return await _attempt(screen, None)


async def new_pin(request: Request) -> Response:
    """First entry: the officer chooses their own PIN."""
    screen = screen_of(request)
    pending = screen.take_pending()
    if pending is None:
        return RedirectResponse("/enter", status_code=303)
    form = await form_of(request)
    chosen, again = form.get("new_pin", "").strip(), form.get("confirm", "").strip()
    if not chosen or chosen != again:
        return screen.page(
            "new_pin.html", 422, error="The two new PINs are not the same. Enter them again."
        )
    pending.new_pin = chosen
    return await _attempt(screen, None)


async def acknowledge(request: Request) -> Response:
    """The officer has read the appropriate-use policy and accepts it."""
    screen = screen_of(request)
    if screen.take_pending() is None:
        return RedirectResponse("/enter", status_code=303)
    version = (await form_of(request)).get("version", "")
    return await _attempt(screen, version or None)


async def _attempt(screen: Screen, acknowledge: str | None) -> Response:
    pending = screen.pending
    assert pending is not None
    try:
        await screen.agent.enter(
            collar=pending.collar,
            pin=pending.pin,
            new_pin=pending.new_pin,
            acknowledge=acknowledge,
        )
    except (RefusedError, ServerError) as refusal:
        return _asked_or_refused(screen, pending, refusal)
    except AgentError as exc:
        screen.pending = None
        return screen.page("enter.html", 503, error=sentence(exc), collar=pending.collar)
    screen.pending = None
    return RedirectResponse("/secure", status_code=303)


def _asked_or_refused(
    screen: Screen, pending: PendingEntry, refusal: RefusedError | ServerError
) -> Response:
    if refusal.code == "pin_change_required":
        pending.new_pin = None
        return screen.page("new_pin.html", error=None)
    if refusal.code == "acknowledgement_required":
        detail: dict[str, Any] = refusal.detail if isinstance(refusal.detail, dict) else {}
        return screen.page(
            "policy.html",
            version=str(detail.get("policy_text_version", "")),
            text=str(detail.get("text", "")),
        )
    if refusal.code == "weak_pin" and pending.new_pin is not None:
        pending.new_pin = None
        return screen.page("new_pin.html", 422, error=sentence(refusal))
    screen.pending = None
    status = 403 if refusal.code not in ("invalid_pin", "weak_pin") else 401
    return screen.page(
        "enter.html",
        status,
        error=sentence(refusal),
        collar=pending.collar,
    )


def entry_routes() -> list[Route]:
    return [
        Route("/enter", enter_form),
        Route("/enter", enter, methods=["POST"]),
        Route("/enter/new-pin", new_pin, methods=["POST"]),
        Route("/enter/acknowledge", acknowledge, methods=["POST"]),
    ]
