"""The division map for the officer on a device's secure side, over the device channel: the
open secure session's officer's own division, no other."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from mdm_server.auth import repository as staff_repository
from mdm_server.deps import ContextDep, DeviceCaller
from mdm_server.errors import PermissionDeniedError, error_responses
from mdm_server.geo import service
from mdm_server.geo.routes import KindsQuery, SinceQuery, UntilQuery, outline_url
from mdm_server.geo.schemas import DeviceMapView
from mdm_server.secure import sessions

device_map_router = APIRouter(prefix="/api/v1/device", tags=["device protocol"])
SessionToken = Annotated[
    str | None, Header(alias=sessions.SESSION_HEADER, description="The secure session token.")
]


@device_map_router.get("/map", responses=error_responses(400, 403))
def officer_division_map(
    caller: DeviceCaller,
    context: ContextDep,
    session_token: SessionToken = None,
    kinds: KindsQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> DeviceMapView:
    """The secure session's officer's division map (as GET /api/v1/map), outline included."""
    now = context.clock()
    chosen = service.chosen_kinds(kinds)
    start, end = service.window(since, until, now=now)
    with caller.transaction(context) as (session, device):
        secure = sessions.current_session(session, token=session_token, caller=device, now=now)
        officer = staff_repository.get_user(session, secure.officer_id)
        assert officer is not None
        if officer.division is None:
            raise PermissionDeniedError("your account has no division; ask IT to set one")
        outline = context.maps.division(officer.division)
        view = service.division_map(
            session,
            division=officer.division,
            outline=outline,
            outline_url=outline_url(context, officer.division, "/api/v1/map/outline"),
            kinds=chosen,
            since=start,
            until=end,
        )
    return DeviceMapView(
        **view.model_dump(), outline=outline.geojson if outline is not None else None
    )
