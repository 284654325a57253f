"""App releases on the console: IT administrators start, widen, halt, resume and roll back
releases; auditors may read them; nobody else sees them. Each page calls the API endpoint it
stands for, under that endpoint's own roles."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mdm_server.apps import release_routes as releases_api
from mdm_server.apps.release_schemas import HaltRequest, ReleaseCreate, ReleaseDetail
from mdm_server.console.access import ConsoleAccess, ConsolePrincipal
from mdm_server.console.charts import Part, stacked_bar_chart
from mdm_server.console.forms import build
from mdm_server.console.templating import render
from mdm_server.deps import ContextDep
from mdm_server.errors import UnprocessableError

router = APIRouter(prefix="/console", include_in_schema=False)
ReleaseReader = Annotated[ConsolePrincipal, Depends(ConsoleAccess.like(releases_api.show_release))]
RUNNING = ConsoleAccess.like(releases_api.widen_release)
ReleaseRunner = Annotated[ConsolePrincipal, Depends(RUNNING)]
Action = Literal["widen", "resume", "rollback"]
NOTES = {
    "started": "The release is started: its first stage's devices are being sent the version.",
    "widen": "The release has moved on to its next stage.",
    "halt": "The release is halted: installs not yet sent were withdrawn.",
    "resume": "The release carries on: the withdrawn installs are sent again.",
    "rollback": "Rolled back: the devices that took this version are sent the previous one.",
}
# Each count of a stage, the word the page uses for it, and its tone.
PARTS = (
    ("installed", "installed", "good"),
    ("pending", "waiting", "info"),
    ("failed", "failed", "bad"),
    ("cancelled", "withdrawn", "muted"),
)
# What Android's commonest refusals mean, for whoever reads the page (PackageManager's
# INSTALL_FAILED_* codes, android.content.pm.PackageInstaller).
ANDROID_REASONS = {
    "INSTALL_FAILED_INSUFFICIENT_STORAGE": "the phone has no room for it",
    "INSTALL_FAILED_OLDER_SDK": "the phone's Android is too old for this version",
    "INSTALL_FAILED_VERSION_DOWNGRADE": "Android refuses to downgrade this app here",
    "INSTALL_FAILED_UPDATE_INCOMPATIBLE": "the installed app is signed by another key",
    "INSTALL_FAILED_INVALID_APK": "the file did not arrive whole",
    "INSTALL_PARSE_FAILED_NO_CERTIFICATES": "the file is not signed",
    "INSTALL_FAILED_USER_RESTRICTED": "the phone's owner or policy refused the install",
}


def progress_chart(release: ReleaseDetail) -> object:
    """Each stage as one bar: installed, pending, failed and withdrawn devices."""
    return stacked_bar_chart(
        f"Release of version {release.version_code}, by stage",
        [f"{stage.index + 1}. {stage.name}" for stage in release.stages],
        [
            Part(words, [getattr(stage, field) for stage in release.stages], tone)
            for field, words, tone in PARTS
        ],
        empty="No device has been sent this version yet.",
    )


@router.get("/releases/{release_id}")
def release_page(
    release_id: releases_api.ReleaseRef,
    request: Request,
    principal: ReleaseReader,
    context: ContextDep,
    note: str | None = None,
) -> HTMLResponse:
    """A release: each stage's progress as a chart and a table, and the devices behind each
    number, with what Android said where an install failed."""
    release = releases_api.show_release(release_id, principal, context)
    return render(
        request,
        "release.html",
        principal=principal,
        release=release,
        chart=progress_chart(release),
        note=NOTES.get(note or ""),
        can_run=principal.role in RUNNING.roles,
        android_reasons=ANDROID_REASONS,
        last_stage=release.stage + 1 >= len(release.stages),
    )


@router.post("/apps/{package}/releases")
def start_release(
    package: str,
    principal: ReleaseRunner,
    context: ContextDep,
    version_code: Annotated[int, Form(ge=1)],
    pilot: Annotated[str, Form(max_length=2000)] = "",
    share: Annotated[int, Form(ge=0, le=100)] = 50,
    widen_every_minutes: Annotated[int | None, Form(ge=1)] = None,
    failure_threshold_pct: Annotated[float | None, Form(ge=0, le=100)] = None,
) -> Response:
    """Start a release from the app's page: a pilot of named devices (if any), then a share
    of the fleet (if any), then the whole fleet."""
    devices = [name.strip() for name in pilot.replace("\n", ",").split(",") if name.strip()]
    stages: list[dict[str, object]] = []
    if devices:
        stages.append({"name": "pilot", "target": {"devices": devices}})
    if 0 < share < 100:
        stages.append(
            {"name": f"{share}% of the fleet", "target": {"fleet": True}, "percent": share}
        )
    stages.append({"name": "the fleet", "target": {"fleet": True}})
    body = build(
        ReleaseCreate,
        package=package,
        version_code=version_code,
        stages=stages,
        widen_every_minutes=widen_every_minutes,
        failure_threshold_pct=failure_threshold_pct,
    )
    release = releases_api.start_release(body, principal, context)
    return RedirectResponse(f"/console/releases/{release.id}?note=started", status_code=303)


@router.post("/releases/{release_id}/halt")
def halt_release(
    release_id: releases_api.ReleaseRef,
    principal: ReleaseRunner,
    context: ContextDep,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Halt the release, saying why."""
    if not reason.strip():
        raise UnprocessableError(
            "say why you are halting the release: the reason is kept with it and in the "
            "audit log, for whoever resumes it or rolls it back",
            code="halt_reason_required",
        )
    releases_api.halt_release(release_id, build(HaltRequest, reason=reason), principal, context)
    return RedirectResponse(f"/console/releases/{release_id}?note=halt", status_code=303)


@router.post("/releases/{release_id}/{action}")
def act_on_release(
    release_id: releases_api.ReleaseRef,
    action: Action,
    principal: ReleaseRunner,
    context: ContextDep,
) -> Response:
    """Widen, resume or roll back the release."""
    act = {
        "widen": releases_api.widen_release,
        "resume": releases_api.resume_release,
        "rollback": releases_api.roll_back_release,
    }[action]
    act(release_id, principal, context)
    return RedirectResponse(f"/console/releases/{release_id}?note={action}", status_code=303)
