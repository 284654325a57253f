"""Queries over the demo connector's missing-person cases and their timelines."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from mdm_server.records.case_models import MissingPersonCase, MissingPersonCaseEntry


def get_case(
    session: Session, reference: str, *, for_update: bool = False
) -> MissingPersonCase | None:
    query = select(MissingPersonCase).where(col(MissingPersonCase.reference) == reference)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def cases(
    session: Session,
    *,
    statuses: Sequence[str] | None = None,
    officer: str | None = None,
    division: str | None = None,
    limit: int = 500,
) -> Sequence[MissingPersonCase]:
    """Cases in the given statuses; an officer's are those they reported or are assigned.
    Newest opened first; the caller orders them for the board."""
    query = select(MissingPersonCase)
    if statuses is not None:
        query = query.where(col(MissingPersonCase.status).in_(list(statuses)))
    if officer is not None:
        query = query.where(
            or_(
                col(MissingPersonCase.reported_by) == officer,
                col(MissingPersonCase.assigned_to) == officer,
            )
        )
    if division is not None:
        query = query.where(col(MissingPersonCase.division) == division)
    query = query.order_by(col(MissingPersonCase.opened_at).desc()).limit(limit)
    return session.exec(query).all()


def open_by_risk(session: Session, *, division: str) -> dict[str, int]:
    """How many of the division's cases are open, by risk."""
    query = (
        select(MissingPersonCase.risk, func.count())
        .where(col(MissingPersonCase.status) == "open")
        .where(col(MissingPersonCase.division) == division)
        .group_by(col(MissingPersonCase.risk))
    )
    return {risk: count for risk, count in session.exec(query).all()}


def entries_of(session: Session, reference: str) -> Sequence[MissingPersonCaseEntry]:
    """The case's timeline, oldest first."""
    query = (
        select(MissingPersonCaseEntry)
        .where(col(MissingPersonCaseEntry.reference) == reference)
        .order_by(col(MissingPersonCaseEntry.id))
    )
    return session.exec(query).all()
