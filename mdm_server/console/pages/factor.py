"""Your second factor, in the console: setting up an authenticator app (its QR code, then a
code from it, then ten recovery codes shown once), and removing it. The same services as
`tabard mfa` and /api/v1/auth/mfa; everyone may, and IT administrators and auditors must
where the force requires it (they are sent here until they have)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from mdm_server.auth import accounts, factors, repository, second_factor
from mdm_server.auth.factor_routes import get_second_factor, qr_svg
from mdm_server.auth.roles import STAFF_ROLES
from mdm_server.console import sessions
from mdm_server.console.access import ConsoleAccess, ConsolePrincipal
from mdm_server.console.navigation import HOME
from mdm_server.console.templating import render
from mdm_server.deps import ContextDep
from mdm_server.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    TooManyAttemptsError,
)

router = APIRouter(prefix="/console", include_in_schema=False)
PAGE = "/console/second-factor"
Code = Annotated[str, Form(max_length=32)]
# Reachable before the factor a role must have exists: this is where it is set up.
Anyone = Annotated[
    ConsolePrincipal, Depends(ConsoleAccess(*STAFF_ROLES, allow_pending_factor=True))
]


def _page(
    request: Request, principal: ConsolePrincipal, context: ContextDep, **shown: Any
) -> HTMLResponse:
    status = shown.pop("factor", None) or get_second_factor(principal, context)
    return render(
        request,
        "second_factor.html",
        principal=principal,
        status_code=shown.pop("status_code", 200),
        factor=status,
        home=HOME.get(principal.role, "/console"),
        **{"setting_up": None, "recovery_codes": None, "error": "", **shown},
    )


def _setting_up(principal: ConsolePrincipal, context: ContextDep) -> dict[str, str]:
    """The pending secret, as its QR code and as text for an app that cannot scan."""
    with context.database.unit_of_work(write=False) as session:
        user = accounts.get_user_by_username(session, principal.username)
        enrolment = factors.pending_enrolment(session, user=user, keys=context.master_key)
    grouped = " ".join(enrolment.secret[i : i + 4] for i in range(0, len(enrolment.secret), 4))
    # segno's SVG of a URI this server made: no text from anyone else is in it.
    return {"qr": Markup(qr_svg(enrolment.otpauth_uri)), "secret": grouped}  # noqa: S704


@router.get("/second-factor")
def second_factor_page(request: Request, principal: Anyone, context: ContextDep) -> HTMLResponse:
    """Whether you have a second factor and how many recovery codes are left; a set-up begun
    and not finished is shown again."""
    status = get_second_factor(principal, context)
    setting_up = _setting_up(principal, context) if status.pending else None
    return _page(request, principal, context, factor=status, setting_up=setting_up)


@router.post("/second-factor/enrol")
def begin(request: Request, principal: Anyone, context: ContextDep) -> HTMLResponse:
    """A new secret for an authenticator app (replacing one set up and not finished)."""
    with context.database.unit_of_work() as session:
        user = accounts.get_user_by_username(session, principal.username)
        factors.begin_enrolment(
            session, user=user, keys=context.master_key, actor=principal.actor, now=context.clock()
        )
    return _page(request, principal, context, setting_up=_setting_up(principal, context))


@router.post("/second-factor/confirm")
def confirm(request: Request, principal: Anyone, context: ContextDep, code: Code = "") -> Response:
    """Finish the set-up with the code the app shows now: the recovery codes, this once."""
    now = context.clock()
    try:
        with context.database.unit_of_work() as session:
            user = accounts.get_user_by_username(session, principal.username)
            codes = factors.confirm_enrolment(
                session,
                user=user,
                code=code,
                keys=context.master_key,
                actor=principal.actor,
                now=now,
            )
            sessions.stepped_up(session, session_id=principal.session_id, now=now)
    except InvalidRequestError as wrong:
        return _page(
            request,
            principal,
            context,
            setting_up=_setting_up(principal, context),
            error=str(wrong.detail),
            status_code=400,
        )
    except ConflictError:
        return RedirectResponse(PAGE, status_code=303)
    return _page(request, principal, context, recovery_codes=codes)


@router.post("/second-factor/remove")
def remove(request: Request, principal: Anyone, context: ContextDep, code: Code = "") -> Response:
    """Remove your own factor with a current code or a recovery code (throttled and audited as
    any code is)."""
    now = context.clock()
    try:
        with context.database.unit_of_work() as session:
            if repository.get_factor(session, principal.user_id) is None:
                return RedirectResponse(PAGE, status_code=303)
            user = second_factor.spend_code(
                session,
                user_id=principal.user_id,
                code=code.strip(),
                actor=principal.actor,
                now=now,
                settings=context.settings,
                keys=context.master_key,
                via="console",
            )
            factors.remove(session, user=user, actor=principal.actor, now=now, reason="own")
    except (AuthenticationError, TooManyAttemptsError) as refused:
        message = refused.detail if isinstance(refused.detail, str) else "wrong code"
        page = _page(request, principal, context, error=message, status_code=refused.status)
        page.headers.update(refused.headers)
        return page
    return RedirectResponse(PAGE, status_code=303)
