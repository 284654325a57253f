"""Releases in the API: start one, follow it stage by stage, and widen, halt, resume or roll
it back. IT administrators run releases; auditors may read them; nobody else sees them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from mdm_server.apps import release_progress as progress
from mdm_server.apps import release_repository as repository
from mdm_server.apps import releases as service
from mdm_server.apps.release_schemas import (
    HaltRequest,
    ReleaseCreate,
    ReleaseDetail,
    ReleasePublic,
)
from mdm_server.commands.catalogue import PACKAGE_NAME
from mdm_server.commands.service import Requester
from mdm_server.deps import ContextDep, FleetReader, ITAdmin
from mdm_server.errors import error_responses

ReleaseRef = Annotated[
    str, Path(max_length=64, description="The release id, or its first 8 characters.")
]
router = APIRouter(prefix="/api/v1/releases", tags=["apps"])


@router.post("", status_code=201, responses=error_responses(404, 409))
def start_release(body: ReleaseCreate, principal: ITAdmin, context: ContextDep) -> ReleaseDetail:
    """Put a catalogue version on its track: the first stage's devices are sent it at once."""
    requester = Requester(actor=principal.actor, user_id=principal.user_id)
    with context.database.unit_of_work() as session:
        release = service.create(
            session,
            package=body.package,
            body=body,
            requester=requester,
            default_threshold_pct=context.settings.release_failure_threshold_pct,
            wakeups=context.wakeups,
            now=context.clock(),
        )
        return progress.detail(session, release)


@router.get("")
def list_releases(
    _: FleetReader,
    context: ContextDep,
    package: Annotated[str | None, Query(pattern=PACKAGE_NAME, max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ReleasePublic]:
    """Releases, newest first, of one app or of all."""
    with context.database.unit_of_work() as session:
        return [
            progress.public(r)
            for r in repository.list_releases(session, package=package, limit=limit)
        ]


@router.get("/{release_id}", responses=error_responses(404))
def show_release(release_id: ReleaseRef, _: FleetReader, context: ContextDep) -> ReleaseDetail:
    """A release, each stage's devices, and what became of each: installed, pending, failed
    (with Android's reason) or withdrawn."""
    with context.database.unit_of_work() as session:
        return progress.detail(session, service.get(session, release_id))


@router.post("/{release_id}/widen", responses=error_responses(404, 409))
def widen_release(release_id: ReleaseRef, principal: ITAdmin, context: ContextDep) -> ReleaseDetail:
    """Move the release on to its next stage now."""
    requester = Requester(actor=principal.actor, user_id=principal.user_id)
    with context.database.unit_of_work() as session:
        release = service.get(session, release_id, for_update=True)
        service.widen(
            session, release, requester=requester, wakeups=context.wakeups, now=context.clock()
        )
        return progress.detail(session, release)


@router.post("/{release_id}/halt", responses=error_responses(404, 409))
def halt_release(
    release_id: ReleaseRef, body: HaltRequest, principal: ITAdmin, context: ContextDep
) -> ReleaseDetail:
    """Stop the release: installs not yet sent are withdrawn."""
    with context.database.unit_of_work() as session:
        release = service.get(session, release_id, for_update=True)
        service.halt(
            session, release, actor=principal.actor, reason=body.reason, now=context.clock()
        )
        return progress.detail(session, release)


@router.post("/{release_id}/resume", responses=error_responses(404, 409))
def resume_release(
    release_id: ReleaseRef, principal: ITAdmin, context: ContextDep
) -> ReleaseDetail:
    """Carry on a halted release; the withdrawn installs are sent again."""
    requester = Requester(actor=principal.actor, user_id=principal.user_id)
    with context.database.unit_of_work() as session:
        release = service.get(session, release_id, for_update=True)
        service.resume(
            session, release, requester=requester, wakeups=context.wakeups, now=context.clock()
        )
        return progress.detail(session, release)


@router.post("/{release_id}/rollback", responses=error_responses(404, 409))
def roll_back_release(
    release_id: ReleaseRef, principal: ITAdmin, context: ContextDep
) -> ReleaseDetail:
    """Stop the release and send the previous version back to every device that took it."""
    requester = Requester(actor=principal.actor, user_id=principal.user_id)
    with context.database.unit_of_work() as session:
        release = service.get(session, release_id, for_update=True)
        service.rollback(
            session, release, requester=requester, wakeups=context.wakeups, now=context.clock()
        )
        return progress.detail(session, release)
