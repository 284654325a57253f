"""The device's side of app delivery: an enrolled device downloads the APK that one of its own
install or update commands names, by the digest the command carries, with HTTP Range so a
download cut halfway resumes (RFC 9110 section 14; Starlette's FileResponse answers 206 and
416). Deny by default: any other digest, or a version not signed by the app's pinned key, is
404, whether or not the store holds it."""

from __future__ import annotations

import uuid
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from mdm_server.apps import repository as catalogue
from mdm_server.commands import repository as commands_repository
from mdm_server.context import AppContext
from mdm_server.deps import ContextDep, DeviceCaller
from mdm_server.errors import NotFoundError, error_responses

APK_MEDIA_TYPE = "application/vnd.android.package-archive"
INSTALLING = ("install_app", "update_app")
Digest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="The APK's SHA-256.")]

device_router = APIRouter(prefix="/api/v1/device", tags=["device protocol"])


def _ordered(session: Session, device_id: uuid.UUID, sha256: str) -> bool:
    """Whether one of the device's open commands orders this APK installed."""
    return any(
        command.type in INSTALLING and command.params.get("sha256") == sha256
        for command in commands_repository.open_of_device(session, device_id)
    )


def _authorised_file(caller: DeviceCaller, context: AppContext, sha256: str) -> FilePath:
    """The stored APK, if an open command of this device orders it and it is a catalogue
    version signed by the app's pinned key: a command sent by hand cannot deliver a version
    held for a signer change two IT administrators have not approved."""
    with caller.transaction(context) as (session, device):
        ordered = _ordered(session, device.device.id, sha256)
        available = catalogue.available_with_digest(session, sha256) is not None
    path = context.apks.path(sha256)
    if not (ordered and available) or not path.is_file():
        raise NotFoundError(
            "no open install or update command of this device names that APK as an "
            "available catalogue version",
            code="apk_not_ordered",
        )
    return path


@device_router.get(
    "/apps/{sha256}",
    response_class=FileResponse,
    responses={
        200: {"content": {APK_MEDIA_TYPE: {}}, "description": "The whole APK."},
        206: {"content": {APK_MEDIA_TYPE: {}}, "description": "The range asked for."},
        **error_responses(404),
    },
)
async def download_apk(sha256: Digest, caller: DeviceCaller, context: ContextDep) -> FileResponse:
    """The APK an open install or update command of this device names, whole or (with a
    `Range: bytes=N-` header) from where an interrupted download stopped."""
    path = await run_in_threadpool(_authorised_file, caller, context, sha256)
    return FileResponse(path, media_type=APK_MEDIA_TYPE, filename=f"{sha256}.apk")
