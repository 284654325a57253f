"""Changing an app's pinned signer: a version signed by another key is held until one IT
administrator accepts the new certificate and a different one approves it (each with
step-up, asked by the routes). Never commits."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from mdm_server.apps import repository
from mdm_server.apps.models import App, AppSignerChange, SignerChangeState, VersionState
from mdm_server.apps.service import actor_name, app_of, audit
from mdm_server.auth.roles import Role, role_name
from mdm_server.commands.service import Requester
from mdm_server.errors import ConflictError, PermissionDeniedError


def _pending(session: Session, package: str) -> tuple[App, AppSignerChange]:
    app = app_of(session, package, for_update=True)
    change = repository.pending_signer_change(session, package, for_update=True)
    if change is None:
        raise ConflictError(
            f"no signer change is waiting for {package}", code="no_signer_change_pending"
        )
    return app, change


def accept_signer(
    session: Session, *, package: str, by: Requester, now: datetime
) -> AppSignerChange:
    """The first IT administrator accepts the new certificate: they have checked it is the
    publisher's new key. The pin does not change until a different one approves."""
    _, change = _pending(session, package)
    if change.accepted_by is not None:
        raise ConflictError(
            f"{change.accepted_by} accepted the new signer of {package} already; a different "
            f"{role_name(Role.it_admin).one} must approve it: tabard apps signer approve "
            f"{package}",
            code="signer_already_accepted",
        )
    change.accepted_at = now
    change.accepted_by = actor_name(by.actor)
    change.accepted_by_id = by.user_id
    session.add(change)
    audit(
        session,
        "app.signer_accepted",
        package,
        actor=by.actor,
        now=now,
        signer_change_id=str(change.id),
        old_signer_sha256=change.old_signer_sha256,
        new_signer_sha256=change.new_signer_sha256,
        new_signer_subject=change.new_signer_subject,
        version_code=change.version_code,
    )
    return change


def approve_signer(
    session: Session, *, package: str, by: Requester, now: datetime
) -> AppSignerChange:
    """A second IT administrator approves an accepted signer change: the pin changes and the
    versions held for it become available. The one who accepted it never can."""
    app, change = _pending(session, package)
    admin = role_name(Role.it_admin).one
    if change.accepted_by is None:
        raise ConflictError(
            f"the new signer of {package} has not been accepted yet: an {admin} accepts it "
            f"first (tabard apps signer accept {package}), then a different one approves it",
            code="signer_not_accepted",
        )
    if by.user_id is not None and by.user_id == change.accepted_by_id:
        audit(
            session,
            "app.signer_approval_refused",
            package,
            actor=by.actor,
            now=now,
            signer_change_id=str(change.id),
            why="the administrator who accepted the new signer cannot also approve it",
        )
        raise PermissionDeniedError(
            f"you accepted the new signer of {package}, so a different {admin} must approve it",
            code="second_approver_required",
            keep_changes=True,
        )
    released = repository.held_versions(session, package, change.new_signer_sha256)
    for version in released:
        version.state = VersionState.available
        session.add(version)
    app.signer_sha256 = change.new_signer_sha256
    app.signer_subject = change.new_signer_subject
    app.signer_not_after = change.new_signer_not_after
    session.add(app)
    change.state = SignerChangeState.approved
    change.decided_at = now
    change.approved_by = actor_name(by.actor)
    change.approved_by_id = by.user_id
    session.add(change)
    audit(
        session,
        "app.signer_approved",
        package,
        actor=by.actor,
        now=now,
        signer_change_id=str(change.id),
        old_signer_sha256=change.old_signer_sha256,
        new_signer_sha256=change.new_signer_sha256,
        accepted_by=change.accepted_by,
        versions_released=sorted(v.version_code for v in released),
    )
    return change


def refuse_signer(
    session: Session, *, package: str, by: Requester, now: datetime
) -> AppSignerChange:
    """Keep the pinned signer: the change is closed and the versions held for it refused."""
    _, change = _pending(session, package)
    refused = repository.held_versions(session, package, change.new_signer_sha256)
    for version in refused:
        version.state = VersionState.refused
        session.add(version)
    change.state = SignerChangeState.refused
    change.decided_at = now
    change.refused_by = actor_name(by.actor)
    session.add(change)
    audit(
        session,
        "app.signer_refused",
        package,
        actor=by.actor,
        now=now,
        signer_change_id=str(change.id),
        new_signer_sha256=change.new_signer_sha256,
        versions_refused=sorted(v.version_code for v in refused),
    )
    return change
