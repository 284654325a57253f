"""The officer's division map on the secure side: fetched from the server over the device
channel when asked, drawn as SVG, shown, and never kept on the device."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from device_agent.errors import AgentError
from device_agent.screen.app import screen_of, sentence
from device_agent.screen.map_drawing import draw, key_of, swatch


async def division_map(request: Request) -> Response:
    """The last week's reports in the officer's division, by kind, on its map."""
    screen = screen_of(request)
    if not screen.is_open():
        return RedirectResponse("/locked", status_code=303)
    screen.touch()
    try:
        view = await screen.agent.division_map()
    except AgentError as exc:
        if not screen.is_open():
            return RedirectResponse("/locked", status_code=303)
        return screen.page("map.html", 503, view=None, drawing=None, keys=[], error=sentence(exc))
    keys = [(key, swatch(key)) for key in key_of(view)]
    return screen.page("map.html", view=view, drawing=draw(view), keys=keys, error=None)
