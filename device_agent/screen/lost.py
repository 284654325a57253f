"""The personal side's "Report this device lost": a confirm page, then the device's own
report to the server (no PIN: whoever holds a lost phone should be able to shut it). The
server destroys the secure side's key at once and sends the device a lock and a wipe; the
secure side, if open, locks here straight away."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from device_agent.errors import AgentError
from device_agent.screen.app import screen_of, sentence


async def confirm(request: Request) -> Response:
    """What reporting it lost does, and the two choices."""
    return screen_of(request).page("lost.html", reported_at=None, error=None)


async def report(request: Request) -> Response:
    """Report this device lost, now."""
    screen = screen_of(request)
    agent = screen.agent
    try:
        async with agent.client() as client:
            await client.report_lost("reported from the device's personal side")
    except AgentError as exc:
        return screen.page("lost.html", 503, reported_at=None, error=sentence(exc))
    if screen.is_open():
        await agent.leave("locked")
    return screen.page("lost.html", reported_at=agent.clock(), error=None)


def lost_routes() -> list[Route]:
    return [Route("/lost", confirm), Route("/lost", report, methods=["POST"])]
