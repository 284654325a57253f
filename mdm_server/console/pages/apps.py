"""The app catalogue on the console: IT administrators and auditors read it; IT
administrators decide signer changes. Each page calls the API endpoint it stands for, under
that endpoint's own roles."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mdm_server.apps import release_routes as releases_api
from mdm_server.apps import routes as apps_api
from mdm_server.console.access import ConsoleAccess, ConsolePrincipal
from mdm_server.console.templating import render
from mdm_server.deps import ContextDep

router = APIRouter(prefix="/console", include_in_schema=False)
AppReader = Annotated[ConsolePrincipal, Depends(ConsoleAccess.like(apps_api.list_apps))]
DECIDING = ConsoleAccess.like(apps_api.accept_signer)
RELEASING = ConsoleAccess.like(releases_api.start_release)
SignerDecider = Annotated[ConsolePrincipal, Depends(DECIDING)]
Decision = Literal["accept", "approve", "refuse"]
DECISIONS = {
    "accept": apps_api.accept_signer,
    "approve": apps_api.approve_signer,
    "refuse": apps_api.refuse_signer,
}
NOTES = {
    "accept": "You accepted the new signer. A different IT administrator must now approve it.",
    "approve": "The new signer is pinned; the version held for it is available.",
    "refuse": "The signer change is refused; the pinned signer stays.",
}


@router.get("/apps")
def app_list(request: Request, principal: AppReader, context: ContextDep) -> HTMLResponse:
    """The catalogue: each app's newest version, signer and number of versions."""
    return render(
        request, "apps.html", principal=principal, apps=apps_api.list_apps(principal, context)
    )


@router.get("/apps/{package}")
def app_page(
    package: apps_api.Package,
    request: Request,
    principal: AppReader,
    context: ContextDep,
    note: Decision | None = None,
) -> HTMLResponse:
    """One app: its versions, its pinned signer, any signer change waiting, and its
    releases, with a form to start one for those who may."""
    app = apps_api.get_app(package, principal, context)
    pending = next((c for c in app.signer_changes if c.state == "pending"), None)
    releases = releases_api.list_releases(principal, context, package=package, limit=50)
    return render(
        request,
        "app.html",
        principal=principal,
        app=app,
        pending=pending,
        note=NOTES.get(note or ""),
        can_decide=principal.role in DECIDING.roles,
        releases=releases,
        can_release=principal.role in RELEASING.roles,
        available=[v for v in app.version_list if v.state == "available"],
        default_threshold=context.settings.release_failure_threshold_pct,
    )


@router.post("/apps/{package}/signer/{decision}")
def decide_signer(
    package: apps_api.Package, decision: Decision, principal: SignerDecider, context: ContextDep
) -> Response:
    """Accept, approve or refuse the app's waiting signer change."""
    DECISIONS[decision](package, principal, context)
    return RedirectResponse(f"/console/apps/{package}?note={decision}", status_code=303)
