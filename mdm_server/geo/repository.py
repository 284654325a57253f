"""Queries for the division map: a division's filed reports over a window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, func, select

from mdm_server.records.models import FiledReport


def placed_reports(
    session: Session, *, division: str, kinds: Sequence[str], since: datetime, until: datetime
) -> Sequence[tuple[str, datetime, float, float]]:
    """Kind, time filed and point of the division's placed reports in (since, until]."""
    query = (
        select(
            col(FiledReport.kind),
            col(FiledReport.filed_at),
            col(FiledReport.latitude),
            col(FiledReport.longitude),
        )
        .where(col(FiledReport.division) == division)
        .where(col(FiledReport.filed_at) > since, col(FiledReport.filed_at) <= until)
        .where(col(FiledReport.kind).in_(kinds))
        .where(col(FiledReport.latitude).is_not(None), col(FiledReport.longitude).is_not(None))
    )
    return [
        (kind, at, lat, lon)
        for kind, at, lat, lon in session.exec(query).all()
        if lat is not None and lon is not None
    ]


def counts_by_kind(
    session: Session, *, division: str, kinds: Sequence[str], since: datetime, until: datetime
) -> dict[str, int]:
    """How many of the division's reports of each kind were filed in (since, until]."""
    query = (
        select(col(FiledReport.kind), func.count())
        .where(col(FiledReport.division) == division)
        .where(col(FiledReport.filed_at) > since, col(FiledReport.filed_at) <= until)
        .where(col(FiledReport.kind).in_(kinds))
        .group_by(col(FiledReport.kind))
    )
    return {kind: count for kind, count in session.exec(query).all()}
