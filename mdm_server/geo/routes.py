"""The division map over HTTP: for the division's supervisors and officers, their own division
only; IT administrators, auditors and every other division are refused. Officers' devices get
the same map through the device channel (GET /api/v1/device/map)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from mdm_server.auth.roles import Role
from mdm_server.context import AppContext
from mdm_server.deps import ContextDep, StaffAccess, StaffPrincipal
from mdm_server.errors import NotFoundError, PermissionDeniedError, error_responses
from mdm_server.geo import service
from mdm_server.geo.schemas import DivisionMapView

router = APIRouter(prefix="/api/v1/map", tags=["supervisors", "officers"])
DivisionMember = Annotated[StaffPrincipal, Depends(StaffAccess(Role.supervisor, Role.officer))]
OUTLINE_PATH = "/api/v1/map/outline"

KindsQuery = Annotated[
    list[str] | None,
    Query(alias="kind", description="Only these kinds of report (repeat it); all by default."),
]
SinceQuery = Annotated[
    datetime | None,
    Query(description="Start of the window (not included), with its zone; a week before its end."),
]
UntilQuery = Annotated[
    datetime | None, Query(description="End of the window (included), with its zone; now.")
]
DivisionQuery = Annotated[
    str | None, Query(description="Your own division (the only one you may ask for).")
]


def own_division(principal: StaffPrincipal, asked: str | None) -> str:
    """The caller's division, which is the only one they may see."""
    if principal.division is None:
        raise PermissionDeniedError("your account has no division; ask IT to set one")
    if asked is not None and asked != principal.division:
        raise PermissionDeniedError(
            "you may see the map of your own division only", code="not_your_division"
        )
    return principal.division


def outline_url(context: AppContext, division: str, local: str) -> str | None:
    """Where the division's outline is loaded from: the force's map server, when named;
    otherwise `local` on this server, where it has a map of the division."""
    if context.settings.map_url is not None:
        return f"{context.settings.map_url}/{division}.geojson"
    return local if context.maps.division(division) is not None else None


def view_of(
    context: AppContext,
    division: str,
    *,
    kinds: list[str] | None,
    since: datetime | None,
    until: datetime | None,
    local_outline: str,
) -> DivisionMapView:
    """The division's map for the window and kinds asked (checked first)."""
    chosen = service.chosen_kinds(kinds)
    start, end = service.window(since, until, now=context.clock())
    with context.database.unit_of_work(write=False) as session:
        return service.division_map(
            session,
            division=division,
            outline=context.maps.division(division),
            outline_url=outline_url(context, division, local_outline),
            kinds=chosen,
            since=start,
            until=end,
        )


@router.get("", responses=error_responses(400))
def division_map(
    principal: DivisionMember,
    context: ContextDep,
    kinds: KindsQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    division: DivisionQuery = None,
) -> DivisionMapView:
    """Your division's filed reports over a window (a week by default, 31 days at most): each
    as its kind, the hour filed and a point, with counts by kind. No names, no contents, no
    references."""
    own = own_division(principal, division)
    return view_of(context, own, kinds=kinds, since=since, until=until, local_outline=OUTLINE_PATH)


@router.get("/outline", responses=error_responses(404))
def division_outline(
    principal: DivisionMember, context: ContextDep, division: DivisionQuery = None
) -> dict[str, Any]:
    """Your division's boundary and streets as GeoJSON, as this server holds them."""
    own = own_division(principal, division)
    outline = context.maps.division(own)
    if outline is None:
        where = context.settings.map_url
        raise NotFoundError(
            f"this server holds no map of division {own}"
            + (f"; the force's maps are at {where}" if where else ""),
            code="no_map",
        )
    return outline.geojson
