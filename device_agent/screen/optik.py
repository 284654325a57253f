"""OPTIK, the secure home: its apps' forms (each asking first for a purpose the policy allows
for that type, and an incident reference where the policy requires one), their results, and
the further-justification question a sampled transaction asks, answered once."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from device_agent.errors import AgentError
from device_agent.screen.app import Screen, form_of, screen_of, sentence
from device_agent.screen.division_map import division_map
from device_agent.screen.forms import APPS, BY_SLUG, App, FormError, Rule, rule_for, transaction

MIN_JUSTIFICATION = 10


def closed() -> Response:
    return RedirectResponse("/locked", status_code=303)


def rule_of(screen: Screen, app: App) -> Rule | None:
    return rule_for(screen.agent.applied_policy().get("policy") or {}, app.type)


async def secure_home(request: Request) -> Response:
    """OPTIK's tiles, those the policy allows first."""
    screen = screen_of(request)
    if not screen.is_open():
        return closed()
    screen.touch()
    tiles = [(app, rule_of(screen, app) is not None) for app in APPS]
    return screen.page("optik.html", tiles=tiles)


async def reconnect(request: Request) -> Response:
    """Try the server now, from a secure side opened offline (the officer has a signal again):
    if it answers, the side becomes an online session and the drafts kept offline are sent,
    each once; the home then lists them. The agent also tries by itself at each check-in."""
    screen = screen_of(request)
    if not screen.is_open():
        return closed()
    screen.touch()
    try:
        await screen.agent.check_in()
    except AgentError:
        if not screen.is_open():
            return closed()
        tiles = [(app, rule_of(screen, app) is not None) for app in APPS]
        return screen.page("optik.html", 503, tiles=tiles, still_offline=True)
    return RedirectResponse("/secure", status_code=303)


def app_page(
    screen: Screen, app: App, *, status: int = 200, error: str | None = None, form: dict[str, str]
) -> Response:
    return screen.page(
        "app.html", status, app=app, rule=rule_of(screen, app), error=error, form=Filled(form)
    )


class Filled(dict[str, str]):
    """A form as filled in so far: a field not filled in is empty."""

    def __missing__(self, key: str) -> str:
        return ""


async def app_form(request: Request) -> Response:
    """One app's form."""
    screen = screen_of(request)
    app = BY_SLUG.get(request.path_params["slug"])
    if app is None:
        return screen.page("missing.html", 404)
    if not screen.is_open():
        return closed()
    screen.touch()
    return app_page(screen, app, form={})


async def app_send(request: Request) -> Response:
    """Send one app's transaction through the agent; show its result."""
    screen = screen_of(request)
    app = BY_SLUG.get(request.path_params["slug"])
    if app is None:
        return screen.page("missing.html", 404)
    if not screen.is_open():
        return closed()
    form = await form_of(request)
    rule = rule_of(screen, app)
    if rule is None:
        return app_page(screen, app, status=403, form=form)
    try:
        body = transaction(app, rule, form)
    except FormError as problem:
        return app_page(screen, app, status=422, error=str(problem), form=form)
    try:
        answer = await screen.agent.transaction(body)
    except AgentError as exc:
        if not screen.is_open():
            return closed()
        return app_page(screen, app, status=status_of(exc), error=sentence(exc), form=form)
    if "draft" in answer:  # offline: kept in the container until the server is back
        return screen.page("draft.html", app=app, answer=answer)
    return screen.page("result.html", app=app, answer=answer, result=answer["result"])


def status_of(exc: AgentError) -> int:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) and 400 <= status < 500 else 503


async def justify(request: Request) -> Response:
    """Answer a request for further justification (recorded by the server, once)."""
    screen = screen_of(request)
    if not screen.is_open():
        return closed()
    form = await form_of(request)
    request_id, answer = form.get("id", ""), form.get("answer", "").strip()
    if len(answer) < MIN_JUSTIFICATION:
        return screen.page(
            "justify.html",
            422,
            request_id=request_id,
            question=form.get("question", ""),
            error=f"Say why, in at least {MIN_JUSTIFICATION} characters.",
            answer=answer,
        )
    try:
        answered = await screen.agent.justify(request_id, answer)
    except AgentError as exc:
        if not screen.is_open():
            return closed()
        return screen.page(
            "justify.html",
            status_of(exc),
            request_id=request_id,
            question=form.get("question", ""),
            error=sentence(exc),
            answer=answer,
        )
    return screen.page("justified.html", answered=answered)


def optik_routes() -> list[Route]:
    return [
        Route("/secure", secure_home),
        Route("/secure/justify", justify, methods=["POST"]),
        Route("/secure/reconnect", reconnect, methods=["POST"]),
        Route("/secure/map", division_map),
        Route("/secure/{slug}", app_form),
        Route("/secure/{slug}", app_send, methods=["POST"]),
    ]
