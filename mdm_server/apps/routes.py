"""The app catalogue over HTTP: IT administrators upload APKs, download them and decide
signer changes; IT administrators and auditors read the catalogue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import anyio.from_thread
from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from mdm_server.apps import service, signers, uploads
from mdm_server.apps.schemas import AppDetail, AppSummary, SignerChangePublic, UploadResult
from mdm_server.commands.service import Requester
from mdm_server.deps import ContextDep, FleetReader, ITAdmin, StaffPrincipal, require_step_up
from mdm_server.errors import GoneError, UnsupportedMediaTypeError, error_responses

APK_UPLOAD_PATH = "/api/v1/apps"
router = APIRouter(prefix=APK_UPLOAD_PATH, tags=["apps"])

APK_TYPE = "application/vnd.android.package-archive"
ACCEPTED_TYPES = (APK_TYPE, "application/octet-stream")
PACKAGE_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$"
Package = Annotated[
    str,
    Path(
        pattern=PACKAGE_PATTERN,
        max_length=255,
        description="The app's package name, such as uk.police.optik.",
    ),
]
VersionCode = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _chunks(stream: AsyncIterator[bytes]) -> Iterator[bytes]:
    """The request body, read on the event loop, for code running in a worker thread."""

    async def next_chunk() -> bytes:
        return await stream.__anext__()

    while True:
        try:
            chunk: bytes = anyio.from_thread.run(next_chunk)
        except StopAsyncIteration:
            return
        if chunk:
            yield chunk


def _staff(principal: StaffPrincipal) -> Requester:
    return Requester(actor=principal.actor, user_id=principal.user_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 409, 413, 415, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {APK_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_app(
    request: Request,
    response: Response,
    principal: ITAdmin,
    context: ContextDep,
    label: Annotated[
        str | None,
        Query(
            min_length=1, max_length=128, description="A name for a new app; default its package."
        ),
    ] = None,
) -> UploadResult:
    """Upload an APK as the raw request body (`Content-Type: application/vnd.android.package-
    archive`). New version: 201; the same version with the same bytes again: 200; the same
    version with other bytes: 409 `version_exists`; signed by another key than the app's
    pinned one: 409 `signer_mismatch`, the version held until two IT administrators change
    the signer; not a readable, signed APK: 422 `apk_invalid`; too large: 413."""
    kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if kind not in ACCEPTED_TYPES:
        raise UnsupportedMediaTypeError(
            f"send the APK itself as the request body with Content-Type: {APK_TYPE}"
        )
    result = await run_in_threadpool(
        uploads.receive,
        context,
        _chunks(request.stream().__aiter__()),
        label=label,
        uploader=_staff(principal),
    )
    response.status_code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
    return result


@router.get("")
def list_apps(_: FleetReader, context: ContextDep) -> list[AppSummary]:
    """The catalogue: every app with its pinned signer, its newest available version and its
    number of versions."""
    with context.database.unit_of_work(write=False) as session:
        return service.list_apps(session)


@router.get("/{package}")
def get_app(package: Package, _: FleetReader, context: ContextDep) -> AppDetail:
    """One app: its pinned signer, every version (newest first) and every signer change."""
    with context.database.unit_of_work(write=False) as session:
        return service.get_app(session, package)


@router.get(
    "/{package}/versions/{version_code}/apk",
    response_class=FileResponse,
    responses={
        200: {"content": {APK_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
        **error_responses(410),
    },
)
def download_apk(
    package: Package, version_code: VersionCode, _: ITAdmin, context: ContextDep
) -> FileResponse:
    """The stored APK of a version, byte for byte as uploaded (its SHA-256 is in the
    catalogue)."""
    with context.database.unit_of_work(write=False) as session:
        version = service.stored_version(session, package, version_code)
    if not context.apks.exists(version.sha256):
        raise GoneError(
            f"the APK of {package} version {version_code} (SHA-256 {version.sha256}) is "
            "missing from the APK store; restore DATA_DIR/apks from its backup",
            code="apk_missing",
        )
    return FileResponse(
        context.apks.path(version.sha256),
        media_type=APK_TYPE,
        filename=f"{package}-{version_code}.apk",
    )


@router.post("/{package}/signer/accept", responses=error_responses(409))
def accept_signer(package: Package, principal: ITAdmin, context: ContextDep) -> SignerChangePublic:
    """Accept the new signer a held version came with (the first of two IT administrators),
    with a second factor used in the last minutes (403 `step_up_required` without)."""
    with context.database.unit_of_work() as session:
        require_step_up(session, principal, context)
        change = signers.accept_signer(
            session, package=package, by=_staff(principal), now=context.clock()
        )
        return service.change_public(change)


@router.post("/{package}/signer/approve", responses=error_responses(409))
def approve_signer(package: Package, principal: ITAdmin, context: ContextDep) -> SignerChangePublic:
    """Approve an accepted signer change (any IT administrator but the one who accepted it),
    with a second factor used in the last minutes: the app's pin changes and the versions
    held for it become available."""
    with context.database.unit_of_work() as session:
        require_step_up(session, principal, context)
        change = signers.approve_signer(
            session, package=package, by=_staff(principal), now=context.clock()
        )
        return service.change_public(change)


@router.post("/{package}/signer/refuse", responses=error_responses(409))
def refuse_signer(package: Package, principal: ITAdmin, context: ContextDep) -> SignerChangePublic:
    """Refuse a waiting signer change: the pin stays, and the versions held for it are
    refused."""
    with context.database.unit_of_work() as session:
        change = signers.refuse_signer(
            session, package=package, by=_staff(principal), now=context.clock()
        )
        return service.change_public(change)
