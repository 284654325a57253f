"""The screen's ASGI app: its pages behind its guard, and its own CSS and script."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from device_agent.screen.app import HERE, Screen, base_routes
from device_agent.screen.entry import entry_routes
from device_agent.screen.guard import ScreenGuard
from device_agent.screen.lost import lost_routes
from device_agent.screen.optik import optik_routes
from device_agent.screen.reports import report_routes


def create_app(screen: Screen) -> Any:
    """The screen's ASGI app behind its guard."""
    app = Starlette(
        routes=[
            *base_routes(),
            *entry_routes(),
            *lost_routes(),
            *report_routes(),  # ahead of OPTIK's own /secure/{slug}
            *optik_routes(),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
    )
    app.state.screen = screen
    return ScreenGuard(app, lambda: screen.launch)
