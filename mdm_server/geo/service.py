"""The division map: which reports, over which window, for whom.

Only a report's kind, the hour it was filed and its point leave here: no name, no content, no
reference, so the map can be shown to the division's officers and supervisors alike. Points
are in no telling order (by kind, hour and place), so none can be matched to a report by the
order reports were filed in."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import get_args

from sqlmodel import Session

from mdm_server.errors import InvalidRequestError
from mdm_server.geo import repository
from mdm_server.geo.maps import DivisionMap
from mdm_server.geo.schemas import DivisionMapView, KindCount, MapPoint
from mdm_server.secure.transaction_schemas import TransactionRequest

DEFAULT_WINDOW = timedelta(days=7)
LONGEST_WINDOW = timedelta(days=31)
POINT_PLACES = 4  # about ten metres: enough for a street, not a front door


def filing_kinds() -> tuple[str, ...]:
    """Every kind of report an officer can file (each filing transaction that carries a
    `report`), so a new kind of filing is on the map without a change here."""
    members = get_args(get_args(TransactionRequest)[0])
    return tuple(
        get_args(member.model_fields["type"].annotation)[0]
        for member in members
        if "report" in member.model_fields
    )


def chosen_kinds(kinds: Sequence[str] | None) -> list[str]:
    """The kinds asked for, in the order they are known; all of them when none is asked."""
    known = filing_kinds()
    unknown = sorted({kind for kind in kinds or () if kind not in known})
    if unknown:
        raise InvalidRequestError(
            f"no such kind of report: {', '.join(unknown)}; choose from {', '.join(known)}",
            code="unknown_kind",
        )
    return [kind for kind in known if not kinds or kind in kinds]


def window(
    since: datetime | None, until: datetime | None, *, now: datetime
) -> tuple[datetime, datetime]:
    """The window asked for: `until` defaults to now, `since` to a week before it."""
    until = until or now
    since = since or until - DEFAULT_WINDOW
    if since.tzinfo is None or until.tzinfo is None:
        raise InvalidRequestError(
            "give since and until with their zone, e.g. 2026-12-01T00:00:00Z",
            code="window_without_zone",
        )
    if since >= until:
        raise InvalidRequestError(
            "since must be before until: the window runs from since to until",
            code="window_reversed",
        )
    if until - since > LONGEST_WINDOW:
        raise InvalidRequestError(
            f"the window may be at most {LONGEST_WINDOW.days} days long; narrow since or until",
            code="window_too_long",
        )
    return since, until


def division_map(
    session: Session,
    *,
    division: str,
    outline: DivisionMap | None,
    outline_url: str | None,
    kinds: list[str],
    since: datetime,
    until: datetime,
) -> DivisionMapView:
    """The division's reports of `kinds` filed in (since, until]: points and counts."""
    rows = repository.placed_reports(
        session, division=division, kinds=kinds, since=since, until=until
    )
    points = sorted(
        (
            MapPoint(
                kind=kind,
                hour=at.replace(minute=0, second=0, microsecond=0),
                latitude=round(lat, POINT_PLACES),
                longitude=round(lon, POINT_PLACES),
            )
            for kind, at, lat, lon in rows
        ),
        key=lambda point: (point.kind, point.hour, point.latitude, point.longitude),
    )
    placed = Counter(point.kind for point in points)
    counted = repository.counts_by_kind(
        session, division=division, kinds=kinds, since=since, until=until
    )
    counts = [KindCount(kind=k, count=counted.get(k, 0), placed=placed[k]) for k in kinds]
    return DivisionMapView(
        division=division,
        name=outline.name if outline is not None else division,
        since=since,
        until=until,
        kinds=kinds,
        points=points,
        counts=counts,
        total=sum(one.count for one in counts),
        outline_url=outline_url,
    )
