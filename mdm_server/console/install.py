"""Putting the console on the app: its pages, static files, headers and error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from mdm_server.console.pages import ROUTERS
from mdm_server.console.security import PREFIX, ConsoleHeadersMiddleware, render_error
from mdm_server.errors import render_errors_as_html

STATIC_DIR = Path(__file__).parent / "static"


def install_console(app: FastAPI, *, map_origin: str | None = None) -> None:
    """Mount the console's pages, static files, headers and error pages on the app;
    `map_origin`, the force's own map server, is the one other origin pages may load from."""
    for router in ROUTERS:
        app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.add_middleware(ConsoleHeadersMiddleware, map_origin=map_origin)
    render_errors_as_html(app, PREFIX, render_error)
