"""Rules for the app catalogue: what an upload may add, and how an app's pinned signer
changes. Never commits.

Signer pinning is Android's own rule for updates (an update must be signed by the installed
app's certificate, or be refused with INSTALL_FAILED_UPDATE_INCOMPATIBLE), applied before a
version can reach a device: the first upload of a package pins its signer, and a version
signed by another key is held until one IT administrator accepts the new certificate and a
different one approves it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mdm_server.apps import repository
from mdm_server.apps.apk import ApkCertificate, ApkFacts
from mdm_server.apps.models import (
    App,
    AppSignerChange,
    AppVersion,
    SignerChangeState,
    VersionState,
)
from mdm_server.apps.schemas import (
    AppDetail,
    AppSummary,
    AppVersionPublic,
    SignerChangePublic,
    SignerPublic,
    UploadResult,
    short_digest,
)
from mdm_server.apps.storage import StoredBlob
from mdm_server.audit.service import Actor, record
from mdm_server.auth.roles import Role, role_name
from mdm_server.commands.service import Requester
from mdm_server.errors import ConflictError, NotFoundError


def actor_name(actor: Actor) -> str:
    return actor.name or actor.type


def audit(
    session: Session, action: str, package: str, *, actor: Actor, now: datetime, **detail: Any
) -> None:
    record(
        session,
        actor=actor,
        action=action,
        now=now,
        target_type="app",
        target_id=package,
        detail={"package": package, **detail},
    )


# --- shapes -----------------------------------------------------------------------------------
def signer_public(sha256: str, subject: str, not_after: datetime) -> SignerPublic:
    return SignerPublic(
        sha256=sha256, short=short_digest(sha256), subject=subject, not_after=not_after
    )


def version_public(version: AppVersion) -> AppVersionPublic:
    return AppVersionPublic.model_validate(version, from_attributes=True)


def change_public(change: AppSignerChange) -> SignerChangePublic:
    return SignerChangePublic(
        id=change.id,
        package=change.package,
        state=change.state,
        old_signer_sha256=change.old_signer_sha256,
        new_signer=signer_public(
            change.new_signer_sha256, change.new_signer_subject, change.new_signer_not_after
        ),
        version_code=change.version_code,
        requested_at=change.requested_at,
        requested_by=change.requested_by,
        accepted_at=change.accepted_at,
        accepted_by=change.accepted_by,
        decided_at=change.decided_at,
        approved_by=change.approved_by,
        refused_by=change.refused_by,
    )


def _summary(row: repository.CatalogueRow) -> dict[str, Any]:
    app = row.app
    return {
        "package": app.package,
        "label": app.label,
        "signer": signer_public(app.signer_sha256, app.signer_subject, app.signer_not_after),
        "versions": row.versions,
        "latest_version_code": row.latest.version_code if row.latest else None,
        "latest_version_name": row.latest.version_name if row.latest else None,
        "signer_change_pending": row.pending_change,
        "created_at": app.created_at,
        "created_by": app.created_by,
    }


def list_apps(session: Session) -> list[AppSummary]:
    """The catalogue, by package name."""
    return [AppSummary(**_summary(row)) for row in repository.catalogue(session)]


def get_app(session: Session, package: str) -> AppDetail:
    """One app with its versions and signer changes."""
    app = app_of(session, package)
    versions = repository.versions(session, package)
    changes = repository.signer_changes(session, package)
    available = [v for v in versions if v.state == VersionState.available]
    row = repository.CatalogueRow(
        app=app,
        versions=len(versions),
        latest=available[0] if available else None,
        pending_change=any(c.state == SignerChangeState.pending for c in changes),
    )
    return AppDetail(
        **_summary(row),
        version_list=[version_public(v) for v in versions],
        signer_changes=[change_public(c) for c in changes],
    )


def app_of(session: Session, package: str, *, for_update: bool = False) -> App:
    app = repository.app_by_package(session, package, for_update=for_update)
    if app is None:
        raise NotFoundError(
            f"no app '{package}' in the catalogue; `tabard apps list` shows those there are",
            code="app_not_found",
        )
    return app


def stored_version(session: Session, package: str, version_code: int) -> AppVersion:
    """A version whose APK staff may download (in any state: held ones are for inspecting)."""
    app_of(session, package)
    found = repository.version(session, package, version_code)
    if found is None:
        raise NotFoundError(
            f"{package} has no version {version_code} in the catalogue",
            code="app_version_not_found",
        )
    return found


# --- uploads ----------------------------------------------------------------------------------
def record_invalid(
    session: Session, *, blob: StoredBlob, detail: object, actor: Actor, now: datetime
) -> None:
    """Audit an upload refused because it is not a readable, signed APK."""
    record(
        session,
        actor=actor,
        action="app.upload_refused",
        now=now,
        target_type="apk",
        target_id=blob.sha256,
        detail={
            "reason": "apk_invalid",
            "sha256": blob.sha256,
            "size": blob.size,
            "problem": detail if isinstance(detail, str) else "unreadable",
        },
    )


def upload(
    session: Session,
    *,
    facts: ApkFacts,
    blob: StoredBlob,
    label: str | None,
    uploader: Requester,
    now: datetime,
) -> UploadResult:
    """Add an inspected APK to the catalogue (see the module docstring for the rules).

    The same version code with the same bytes again is found, not added; with other bytes it
    is refused (409 `version_exists`). A version signed by another key than the pinned one is
    held, and refused with 409 `signer_mismatch` (its changes kept: the held version, the
    signer change and the audit event)."""
    app = repository.app_by_package(session, facts.package, for_update=True)
    if app is None:
        return _first_upload(
            session, facts=facts, blob=blob, label=label, uploader=uploader, now=now
        )
    existing = repository.version(session, app.package, facts.version_code)
    if existing is not None:
        return _same_version(
            session, app, existing, facts=facts, blob=blob, uploader=uploader, now=now
        )
    if facts.signer.sha256 != app.signer_sha256:
        _held(session, app, facts=facts, blob=blob, uploader=uploader, now=now)  # raises
    version = _add_version(session, facts, blob, uploader=uploader, now=now)
    _audit_uploaded(session, version, uploader=uploader, now=now, created=True, pinned=False)
    return _result(app, version, created=True, pinned=False)


def _first_upload(
    session: Session,
    *,
    facts: ApkFacts,
    blob: StoredBlob,
    label: str | None,
    uploader: Requester,
    now: datetime,
) -> UploadResult:
    app = App(
        package=facts.package,
        label=label or facts.package,
        signer_sha256=facts.signer.sha256,
        signer_subject=facts.signer.subject,
        signer_not_after=facts.signer.not_after,
        created_at=now,
        created_by=actor_name(uploader.actor),
    )
    session.add(app)
    try:
        session.flush()
    except IntegrityError as exc:  # another upload of the package's first version won
        raise ConflictError(
            f"another upload of {facts.package} was stored at the same moment; upload again",
            code="upload_raced",
        ) from exc
    version = _add_version(session, facts, blob, uploader=uploader, now=now)
    _audit_uploaded(session, version, uploader=uploader, now=now, created=True, pinned=True)
    return _result(app, version, created=True, pinned=True)


def _same_version(
    session: Session,
    app: App,
    existing: AppVersion,
    *,
    facts: ApkFacts,
    blob: StoredBlob,
    uploader: Requester,
    now: datetime,
) -> UploadResult:
    if existing.sha256 != blob.sha256:
        audit(
            session,
            "app.upload_refused",
            app.package,
            actor=uploader.actor,
            now=now,
            reason="version_exists",
            version_code=facts.version_code,
            sha256=blob.sha256,
            existing_sha256=existing.sha256,
        )
        raise ConflictError(
            f"version {facts.version_code} of {app.package} is already in the catalogue with "
            f"other bytes (SHA-256 {short_digest(existing.sha256)}, this one "
            f"{short_digest(blob.sha256)}); a new build needs a higher versionCode: raise it "
            "and upload again",
            code="version_exists",
            keep_changes=True,
        )
    if existing.state != VersionState.available:
        if existing.signer_sha256 == app.signer_sha256:  # its signer has been pinned since
            existing.state = VersionState.available
            session.add(existing)
        else:  # the same answer as its first upload, asking again for a signer change
            _held(session, app, facts=facts, blob=blob, uploader=uploader, now=now, held=existing)
    _audit_uploaded(session, existing, uploader=uploader, now=now, created=False, pinned=False)
    return _result(app, existing, created=False, pinned=False)


def _add_version(
    session: Session, facts: ApkFacts, blob: StoredBlob, *, uploader: Requester, now: datetime
) -> AppVersion:
    version = AppVersion(
        package=facts.package,
        version_code=facts.version_code,
        version_name=facts.version_name,
        min_sdk=facts.min_sdk,
        target_sdk=facts.target_sdk,
        admin_receivers=list(facts.admin_receivers),
        sha256=blob.sha256,
        size=blob.size,
        signer_sha256=facts.signer.sha256,
        schemes=list(facts.schemes),
        state=VersionState.available,
        uploaded_at=now,
        uploaded_by=actor_name(uploader.actor),
    )
    session.add(version)
    return version


def _audit_uploaded(
    session: Session,
    version: AppVersion,
    *,
    uploader: Requester,
    now: datetime,
    created: bool,
    pinned: bool,
) -> None:
    audit(
        session,
        "app.version_uploaded",
        version.package,
        actor=uploader.actor,
        now=now,
        version_code=version.version_code,
        version_name=version.version_name,
        sha256=version.sha256,
        size=version.size,
        signer_sha256=version.signer_sha256,
        new=created,
        pinned_signer=pinned,
    )


def _result(app: App, version: AppVersion, *, created: bool, pinned: bool) -> UploadResult:
    return UploadResult(
        package=app.package,
        label=app.label,
        created=created,
        pinned_signer=pinned,
        signer=signer_public(app.signer_sha256, app.signer_subject, app.signer_not_after),
        version=version_public(version),
    )


def _certificate(signer: ApkCertificate) -> str:
    return f"{short_digest(signer.sha256)} ({signer.subject})"


def _held(
    session: Session,
    app: App,
    *,
    facts: ApkFacts,
    blob: StoredBlob,
    uploader: Requester,
    now: datetime,
    held: AppVersion | None = None,
) -> NoReturn:
    """Refuse a version signed by another key than the pinned one: hold it (unless another
    change is already waiting for a third key) and ask for the signer change. Raises."""
    came = facts.signer
    pinned = f"{short_digest(app.signer_sha256)} ({app.signer_subject})"
    waiting = repository.pending_signer_change(session, app.package, for_update=True)
    if waiting is not None and waiting.new_signer_sha256 != came.sha256:
        audit(
            session,
            "app.upload_refused",
            app.package,
            actor=uploader.actor,
            now=now,
            reason="signer_change_pending",
            version_code=facts.version_code,
            sha256=blob.sha256,
            signer_sha256=came.sha256,
        )
        raise ConflictError(
            f"{app.package} is pinned to certificate {pinned}, and a change to certificate "
            f"{short_digest(waiting.new_signer_sha256)} is already waiting; version "
            f"{facts.version_code} is signed by a third, {_certificate(came)}. Approve or "
            f"refuse the waiting change first (tabard apps show {app.package})",
            code="signer_change_pending",
            keep_changes=True,
        )
    if held is None:
        held = _add_version(session, facts, blob, uploader=uploader, now=now)
    held.state = VersionState.held
    session.add(held)
    if waiting is None:
        waiting = AppSignerChange(
            package=app.package,
            old_signer_sha256=app.signer_sha256,
            new_signer_sha256=came.sha256,
            new_signer_subject=came.subject,
            new_signer_not_after=came.not_after,
            version_code=facts.version_code,
            requested_at=now,
            requested_by=actor_name(uploader.actor),
        )
        session.add(waiting)
    audit(
        session,
        "app.upload_refused",
        app.package,
        actor=uploader.actor,
        now=now,
        reason="signer_mismatch",
        version_code=facts.version_code,
        sha256=blob.sha256,
        pinned_signer_sha256=app.signer_sha256,
        signer_sha256=came.sha256,
        signer_subject=came.subject,
        signer_change_id=str(waiting.id),
    )
    admin = role_name(Role.it_admin).one
    raise ConflictError(
        {
            "message": (
                f"{app.package} is pinned to certificate {pinned}, but version "
                f"{facts.version_code} is signed by certificate {_certificate(came)}. It is "
                f"held, not releasable, until an {admin} accepts the new signer (tabard apps "
                f"signer accept {app.package}) and a different {admin} approves it (tabard "
                f"apps signer approve {app.package})"
            ),
            "pinned": {
                "sha256": app.signer_sha256,
                "short": short_digest(app.signer_sha256),
                "subject": app.signer_subject,
            },
            "came": {
                "sha256": came.sha256,
                "short": short_digest(came.sha256),
                "subject": came.subject,
            },
            "version_code": facts.version_code,
            "signer_change_id": str(waiting.id),
        },
        code="signer_mismatch",
        keep_changes=True,
    )
