"""Queries over the app catalogue."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from mdm_server.apps.models import (
    App,
    AppSignerChange,
    AppVersion,
    SignerChangeState,
    VersionState,
)


def app_by_package(session: Session, package: str, *, for_update: bool = False) -> App | None:
    query = select(App).where(col(App.package) == package)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def version(session: Session, package: str, version_code: int) -> AppVersion | None:
    query = select(AppVersion).where(
        col(AppVersion.package) == package, col(AppVersion.version_code) == version_code
    )
    return session.exec(query).first()


def versions(session: Session, package: str) -> Sequence[AppVersion]:
    """An app's versions, newest version code first."""
    query = (
        select(AppVersion)
        .where(col(AppVersion.package) == package)
        .order_by(col(AppVersion.version_code).desc())
    )
    return session.exec(query).all()


def held_versions(session: Session, package: str, signer_sha256: str) -> Sequence[AppVersion]:
    query = select(AppVersion).where(
        col(AppVersion.package) == package,
        col(AppVersion.signer_sha256) == signer_sha256,
        col(AppVersion.state) == "held",
    )
    return session.exec(query).all()


def digest_in_use(session: Session, sha256: str) -> bool:
    """Whether any version's bytes are these (so the stored APK must stay)."""
    query = select(AppVersion.id).where(col(AppVersion.sha256) == sha256).limit(1)
    return session.exec(query).first() is not None


def digests_in_use(session: Session, digests: Iterable[str]) -> set[str]:
    """Which of these digests some version's bytes are."""
    wanted = list(digests)
    query = select(AppVersion.sha256).where(col(AppVersion.sha256).in_(wanted)).distinct()
    return set(session.exec(query).all()) if wanted else set()


def available_with_digest(session: Session, sha256: str) -> AppVersion | None:
    """A version whose bytes are these and that may go to devices (signed by the pinned key)."""
    query = select(AppVersion).where(
        col(AppVersion.sha256) == sha256, col(AppVersion.state) == VersionState.available
    )
    return session.exec(query.limit(1)).first()


def signer_changes(session: Session, package: str) -> Sequence[AppSignerChange]:
    """An app's signer changes, newest first."""
    query = (
        select(AppSignerChange)
        .where(col(AppSignerChange.package) == package)
        .order_by(col(AppSignerChange.requested_at).desc())
    )
    return session.exec(query).all()


def pending_signer_change(
    session: Session, package: str, *, for_update: bool = False
) -> AppSignerChange | None:
    query = select(AppSignerChange).where(
        col(AppSignerChange.package) == package,
        col(AppSignerChange.state) == SignerChangeState.pending,
    )
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


@dataclass(frozen=True)
class CatalogueRow:
    app: App
    versions: int
    latest: AppVersion | None
    pending_change: bool


def catalogue(session: Session) -> list[CatalogueRow]:
    """Every app by package name, with its version count, its newest available version and
    whether a signer change waits."""
    apps = session.exec(select(App).order_by(col(App.package))).all()
    counts = dict(
        session.exec(
            select(AppVersion.package, func.count()).group_by(col(AppVersion.package))
        ).all()
    )
    newest = (
        select(AppVersion.package, func.max(AppVersion.version_code).label("code"))
        .where(col(AppVersion.state) == "available")
        .group_by(col(AppVersion.package))
        .subquery()
    )
    latest = {
        row.package: row
        for row in session.exec(
            select(AppVersion).join(
                newest,
                (col(AppVersion.package) == newest.c.package)
                & (col(AppVersion.version_code) == newest.c.code),
            )
        ).all()
    }
    pending = set(
        session.exec(
            select(AppSignerChange.package).where(
                col(AppSignerChange.state) == SignerChangeState.pending
            )
        ).all()
    )
    return [
        CatalogueRow(
            app=app,
            versions=int(counts.get(app.package, 0)),
            latest=latest.get(app.package),
            pending_change=app.package in pending,
        )
        for app in apps
    ]
