"""API shapes of the division map: points and counts, never names, contents or references."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class MapPoint(BaseModel):
    """Where and roughly when a report happened: its kind, the hour it was filed, the point."""

    kind: str
    hour: datetime = Field(description="The hour (UTC) the report was filed in: its start.")
    latitude: float
    longitude: float


class KindCount(BaseModel):
    kind: str
    count: int = Field(description="Reports of this kind filed in the window.")
    placed: int = Field(description="... of which have a point on the map.")


class DivisionMapView(BaseModel):
    """A division's filed reports over a window: points for the map and counts by kind."""

    division: str
    name: str = Field(description="The division's name as its map gives it.")
    since: datetime
    until: datetime
    kinds: list[str] = Field(description="The kinds of report shown (all, unless filtered).")
    points: list[MapPoint]
    counts: list[KindCount] = Field(description="One per kind shown, in the order of `kinds`.")
    total: int
    outline_url: str | None = Field(
        description="Where the division's outline (GeoJSON: boundary and streets) is loaded "
        "from: this server, or the force's own map server. None: no map of the division."
    )


class DeviceMapView(DivisionMapView):
    """The map as an officer's device gets it: the outline inline, where this server holds
    it, so the phone draws it without asking again."""

    outline: dict[str, Any] | None = Field(
        default=None, description="The division's GeoJSON (boundary and streets)."
    )
