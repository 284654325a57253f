"""Queries over the demo connector's safeguarding referrals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func
from sqlmodel import Session, col, select

from mdm_server.records.models import FiledReport
from mdm_server.records.safeguarding_models import SafeguardingReferral

Row = tuple[SafeguardingReferral, dict[str, Any]]


def get_referral(
    session: Session, reference: str, *, for_update: bool = False
) -> SafeguardingReferral | None:
    query = select(SafeguardingReferral).where(col(SafeguardingReferral.reference) == reference)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def fields_of(session: Session, reference: str) -> dict[str, Any]:
    """What the officer wrote: the filed report's fields as they stand."""
    report = session.get(FiledReport, reference)
    return dict(report.fields) if report is not None else {}


def queue(
    session: Session, *, showing: str, overdue_before: datetime, limit: int, offset: int
) -> tuple[Sequence[Row], int]:
    """A page of referrals with what the officer wrote: undecided ones oldest first, then
    decided ones most recently decided first; and how many match."""
    decided = col(SafeguardingReferral.decided_at)
    where: list[Any] = []
    if showing == "waiting":
        where.append(decided.is_(None))
    elif showing == "overdue":
        where += [decided.is_(None), col(SafeguardingReferral.raised_at) < overdue_before]
    elif showing == "decided":
        where.append(decided.is_not(None))
    query = (
        select(SafeguardingReferral, col(FiledReport.fields))
        .join(FiledReport, col(FiledReport.reference) == col(SafeguardingReferral.reference))
        .where(*where)
        .order_by(
            case((decided.is_(None), 0), else_=1),
            case((decided.is_(None), col(SafeguardingReferral.raised_at)), else_=None),
            decided.desc(),
            col(SafeguardingReferral.reference),
        )
        .limit(limit)
        .offset(offset)
    )
    rows = [(referral, dict(fields)) for referral, fields in session.exec(query).all()]
    total = session.exec(select(func.count()).select_from(SafeguardingReferral).where(*where)).one()
    return rows, int(total)


def counts(session: Session, *, division: str, overdue_before: datetime) -> tuple[int, int]:
    """The division's undecided referrals, and those of them raised before `overdue_before`."""
    raised = col(SafeguardingReferral.raised_at)
    waiting, overdue = session.exec(
        select(
            func.count(),
            func.coalesce(func.sum(case((raised < overdue_before, 1), else_=0)), 0),
        ).where(
            col(SafeguardingReferral.division) == division,
            col(SafeguardingReferral.decided_at).is_(None),
        )
    ).one()
    return int(waiting), int(overdue)
