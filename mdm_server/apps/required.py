"""Required apps: a device whose policy requires an app (`assignment: required` in
`secure_side.allowed_apps`) that its work profile lacks is sent the app from the catalogue.

Compliance finds the gap (the `secure_side.required_apps` finding, from the device's last
posture); the scheduler's `install_required_apps` job closes it with a signed `install_app`
command of the version the fleet has been given. A device whose install failed is not sent the
same version again for a day, so a phone without space is not asked every few minutes; a new
version is sent at once."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from mdm_server.apps.models import AppVersion, VersionState
from mdm_server.apps.release_models import AppRelease, ReleaseState
from mdm_server.audit.service import Actor
from mdm_server.commands import service as commands
from mdm_server.commands.catalogue import kind_of
from mdm_server.commands.models import OPEN_STATES, Command
from mdm_server.commands.service import Requester
from mdm_server.commands.wakeups import Wakeups
from mdm_server.db import Database
from mdm_server.devices.models import Device, DeviceState
from mdm_server.policies.models import ComplianceStatus, DeviceCompliance

log = logging.getLogger("tabard.apps")
REQUIRED_APPS = Actor.system("required_apps")
RULE = "secure_side.required_apps"
RETRY_AFTER = timedelta(hours=24)
PROFILE = "work"


def settled_version(session: Session, package: str) -> AppVersion | None:
    """The version of `package` the fleet has been given: that of its newest finished release;
    for an app never released, its newest version signed by the pinned key. None when there is
    none to send (nothing uploaded, or only versions held for a signer change)."""
    released = session.exec(
        select(AppRelease.version_code)
        .where(col(AppRelease.package) == package, col(AppRelease.state) == ReleaseState.finished)
        .order_by(col(AppRelease.created_at).desc())
        .limit(1)
    ).first()
    query = select(AppVersion).where(
        col(AppVersion.package) == package, col(AppVersion.state) == VersionState.available
    )
    if released is not None:
        query = query.where(col(AppVersion.version_code) == released)
    elif _ever_released(session, package):
        return None  # its only releases are under way or were undone: not settled yet
    return session.exec(query.order_by(col(AppVersion.version_code).desc()).limit(1)).first()


def _ever_released(session: Session, package: str) -> bool:
    query = select(AppRelease.id).where(col(AppRelease.package) == package).limit(1)
    return session.exec(query).first() is not None


def _missing(
    session: Session, after: uuid.UUID | None, limit: int
) -> list[tuple[uuid.UUID, list[str]]]:
    """Devices whose last evaluation found required apps missing, in id order after `after`,
    with the packages missing."""
    query = select(DeviceCompliance).where(
        col(DeviceCompliance.status).in_(
            (ComplianceStatus.in_grace, ComplianceStatus.non_compliant)
        )
    )
    if after is not None:
        query = query.where(col(DeviceCompliance.device_id) > after)
    rows = session.exec(query.order_by(col(DeviceCompliance.device_id)).limit(limit)).all()
    found = []
    for row in rows:
        missing = next(
            (
                f.get("actual")
                for f in row.findings
                if f.get("rule") == RULE and f.get("status") == "non_compliant"
            ),
            None,
        )
        found.append(
            (row.device_id, [str(p) for p in missing] if isinstance(missing, list) else [])
        )
    return found


def _tried(session: Session, device_id: uuid.UUID, version: AppVersion, *, since: datetime) -> bool:
    """Whether the device has this version's install open, or was sent it since `since`."""
    query = select(Command).where(
        col(Command.device_id) == device_id,
        col(Command.type) == "install_app",
        (col(Command.state).in_(OPEN_STATES)) | (col(Command.created_at) >= since),
    )
    return any(
        c.params.get("package") == version.package and c.params.get("sha256") == version.sha256
        for c in session.exec(query)
    )


@dataclass
class Report:
    sent: int = 0
    waiting: int = 0  # already sent, or failed within the day
    unavailable: set[str] = field(default_factory=set)  # required, but nothing to send


def install_missing(
    database: Database, *, wakeups: Wakeups, now: datetime, batch: int = 200
) -> Report:
    """Send each device the required apps its last posture lacked; a batch of devices per
    transaction."""
    report = Report()
    versions: dict[str, AppVersion | None] = {}
    after: uuid.UUID | None = None
    while True:
        with database.unit_of_work() as session:
            rows = _missing(session, after, batch)
            for device_id, packages in rows:
                device = session.get(Device, device_id)
                if device is None or device.state != DeviceState.active:
                    continue
                for package in packages:
                    if package not in versions:
                        versions[package] = settled_version(session, package)
                    version = versions[package]
                    if version is None:
                        report.unavailable.add(package)
                    elif _tried(session, device_id, version, since=now - RETRY_AFTER):
                        report.waiting += 1
                    else:
                        _send(session, device, version, wakeups=wakeups, now=now)
                        report.sent += 1
        if len(rows) < batch:
            break
        after = rows[-1][0]
    if report.unavailable:
        log.warning(
            "required apps with no version to send: %s", ", ".join(sorted(report.unavailable))
        )
    return report


def _send(
    session: Session, device: Device, version: AppVersion, *, wakeups: Wakeups, now: datetime
) -> None:
    commands.create_or_reuse(
        session,
        device=device,
        kind=kind_of("install_app"),
        params={
            "package": version.package,
            "profile": PROFILE,
            "version_code": version.version_code,
            "sha256": version.sha256,
            "size": version.size,
            "allow_downgrade": False,
        },
        reason="required by policy",
        requester=Requester(REQUIRED_APPS, None),
        wakeups=wakeups,
        now=now,
    )
