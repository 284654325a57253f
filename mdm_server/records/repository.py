"""Queries over filed reports, their versions and annotations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import Session, col, select

from mdm_server.records.models import FiledReport, FiledReportVersion, ReportAnnotation


def get_report(session: Session, reference: str, *, for_update: bool = False) -> FiledReport | None:
    query = select(FiledReport).where(col(FiledReport.reference) == reference)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def report_filed_by(session: Session, transaction_id: uuid.UUID) -> FiledReport | None:
    """The report the transaction filed, if it filed one."""
    query = select(FiledReport).where(col(FiledReport.transaction_id) == transaction_id)
    return session.exec(query).first()


def versions_of(session: Session, reference: str) -> Sequence[FiledReportVersion]:
    """Every version of the report, the first (as filed) first."""
    query = (
        select(FiledReportVersion)
        .where(col(FiledReportVersion.reference) == reference)
        .order_by(col(FiledReportVersion.version))
    )
    return session.exec(query).all()


def annotations_of(session: Session, reference: str) -> Sequence[ReportAnnotation]:
    """The report's annotations, oldest first."""
    query = (
        select(ReportAnnotation)
        .where(col(ReportAnnotation.reference) == reference)
        .order_by(col(ReportAnnotation.id))
    )
    return session.exec(query).all()
