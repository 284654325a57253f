"""The supervisor's map of their division: reports as points and density over the division's
outline, filtered by kind and window, with the counts beside it (templates/_map.html, which
other pages embed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from mdm_server.auth.roles import Role
from mdm_server.console.access import ConsoleAccess, ConsolePrincipal
from mdm_server.console.map_chart import SHAPE_WORDS, key_of, kind_words, map_chart, swatch
from mdm_server.console.templating import render
from mdm_server.deps import ContextDep
from mdm_server.errors import InvalidRequestError
from mdm_server.geo import routes as map_api
from mdm_server.geo import service

router = APIRouter(prefix="/console/map", include_in_schema=False)
SupervisorPage = Annotated[ConsolePrincipal, Depends(ConsoleAccess(Role.supervisor))]
OUTLINE = "/console/map/outline.geojson"
WINDOWS = {"24h": ("last 24 hours", 1), "7d": ("last 7 days", 7), "28d": ("last 28 days", 28)}


def map_panel(
    context: Any, principal: ConsolePrincipal, *, kinds: list[str] | None, window: str
) -> dict[str, Any]:
    """What templates/_map.html needs to draw the division's map: for this page and others
    that embed it (the demand page)."""
    if window not in WINDOWS:
        raise InvalidRequestError(f"choose a window of {', '.join(WINDOWS)}", code="unknown_window")
    division = map_api.own_division(principal, None)
    now = context.clock()
    view = map_api.view_of(
        context,
        division,
        kinds=kinds or None,
        since=now - timedelta(days=WINDOWS[window][1]),
        until=now,
        local_outline=OUTLINE,
    )
    return {
        "view": view,
        "chart": map_chart(view),
        "key": [
            (kind_words(kind), swatch(shape, colour), SHAPE_WORDS[shape])
            for kind, colour, shape in key_of(view.kinds)
        ],
        "all_kinds": [(kind, kind_words(kind)) for kind in service.filing_kinds()],
        "chosen": set(kinds or []),
        "windows": WINDOWS,
        "window": window,
    }


@router.get("")
def division_map_view(
    request: Request,
    principal: SupervisorPage,
    context: ContextDep,
    kind: Annotated[list[str] | None, Query()] = None,
    window: str = "7d",
) -> HTMLResponse:
    """Your division's reports on its map, by kind, over a window."""
    return render(
        request,
        "division_map.html",
        principal=principal,
        map=map_panel(context, principal, kinds=kind, window=window),
    )


@router.get("/outline.geojson")
def division_outline(principal: SupervisorPage, context: ContextDep) -> dict[str, Any]:
    """The division's outline, for the map on this page."""
    return map_api.division_outline(principal, context)
