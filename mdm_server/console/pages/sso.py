"""Signing in to the console through the force's OpenID provider: the authorization code
flow with PKCE, `state` and `nonce` (OpenID Connect Core §3.1), ending in the same console
session a password sign-in opens.

The flow's secrets (state, nonce, PKCE verifier) travel in a sealed cookie bound to this
browser; the `state` coming back is compared with it in constant time. The cookie is
SameSite=Lax, as the provider's redirect back is a cross-site navigation; the session cookie
(SameSite=Strict) is then set by a page of Tabard's own that moves on to the console, since a
Strict cookie is not sent on a navigation that began at another site."""

from __future__ import annotations

import hmac
import logging
import re
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mdm_server.auth import sso
from mdm_server.auth.oidc import OidcClient, new_pkce_verifier, new_state
from mdm_server.console import sessions
from mdm_server.console.navigation import HOME
from mdm_server.console.pages.signin import _login_page, _secure, safe_next, set_session
from mdm_server.console.templating import render
from mdm_server.context import AppContext
from mdm_server.deps import ContextDep, PublicAccess, anonymous_actor
from mdm_server.errors import NotFoundError, ServiceUnavailableError, TabardError

router = APIRouter(prefix="/console/sso", include_in_schema=False)
FLOW_COOKIE = "tabard_sso"
FLOW_PURPOSE = "console-sso"
FLOW_TTL = timedelta(minutes=10)
_ERROR_CODE = re.compile(r"^[a-z_]{1,64}$")
log = logging.getLogger(__name__)


def _client(context: AppContext) -> OidcClient:
    if context.oidc is None:
        raise NotFoundError(
            "single sign-on is not set up on this server: sign in with your Tabard username",
            code="sso_not_configured",
        )
    return context.oidc


def redirect_uri(context: AppContext) -> str:
    """Where the provider sends the browser back: register exactly this at the provider."""
    return f"{context.settings.public_url}/console/sso/callback"


@router.get("/start")
def start_sso(
    request: Request,
    context: ContextDep,
    _: PublicAccess,
    next: str | None = None,
    step_up: bool = False,
) -> Response:
    """Send the browser to the force's sign-in page; with `step_up`, to have the person sign
    in there again (`max_age=0`, `prompt=login`) before an action that cannot be undone."""
    client = _client(context)
    state, nonce, verifier = new_state(), new_state(), new_pkce_verifier()
    now = context.clock()
    try:
        target = client.authorization_url(
            state=state,
            nonce=nonce,
            code_verifier=verifier,
            redirect_uri=redirect_uri(context),
            step_up=step_up,
            acr=context.settings.oidc_step_up_acr if step_up else None,
        )
    except ServiceUnavailableError as down:
        return _login_page(request, context, next_path=next, error=str(down.detail), status=503)
    flow = context.sealer.seal(
        FLOW_PURPOSE,
        {
            "state": state,
            "nonce": nonce,
            "verifier": verifier,
            "next": safe_next(next) or "",
            "step_up": step_up,
        },
        expires_at=now + FLOW_TTL,
    )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        flow,
        max_age=int(FLOW_TTL.total_seconds()),
        path="/console/sso",
        httponly=True,
        samesite="lax",
        secure=_secure(context, request),
    )
    return response


@router.get("/callback")
def finish_sso(
    request: Request,
    context: ContextDep,
    _: PublicAccess,
    code: str = "",
    state: str = "",
    error: str = "",
) -> Response:
    """The provider sends the browser back here with a code: check `state`, exchange the code
    (with the PKCE verifier), validate the ID token (with the nonce), and open a session whose
    second factor was used when the person signed in at the provider (`auth_time`). A step-up
    must have had them sign in there just now. The session cookie is SameSite=Strict, so the
    session the step-up began in cannot be seen here: a new one is opened for the account the
    ID token names (by issuer and subject, so the same person's)."""
    client = _client(context)
    now = context.clock()
    flow = context.sealer.open(FLOW_PURPOSE, request.cookies.get(FLOW_COOKIE, ""), now=now)
    if flow is None:
        return _again(request, context, "The sign-in took too long or was started elsewhere.")
    if not state or not hmac.compare_digest(state.encode(), str(flow["state"]).encode()):
        return _again(request, context, "The sign-in did not come back as it was sent.")
    if error or not code or len(code) > 2048:
        said = error if _ERROR_CODE.match(error) else "no code"
        return _again(request, context, f"The force's sign-in did not sign you in ({said}).")
    next_path = str(flow.get("next", ""))
    try:
        answer = client.exchange_code(
            code=code, code_verifier=str(flow["verifier"]), redirect_uri=redirect_uri(context)
        )
        claims = client.validate_id_token(answer.id_token, nonce=str(flow["nonce"]), now=now)
        if flow.get("step_up") is True:
            factor_at: datetime | None = sso.fresh_sign_in_at(
                claims, settings=context.settings, now=now
            )
        else:
            factor_at = sso.signed_in_at(claims, settings=context.settings, now=now)
        with context.database.unit_of_work() as session:
            # Wrapped inside the transaction that stores it, so a master key rotation's
            # wait for older transactions covers it (docs/operations.md, The master key).
            refresh = sso.wrap_refresh(
                context.master_key, id_token=claims, refresh_token=answer.refresh_token
            )
            user = sso.sign_in(
                session,
                id_token=claims,
                actor=anonymous_actor(request),
                now=now,
                settings=context.settings,
                via="console",
                refresh_wrapped=refresh,
            )
            secret = sessions.start(
                session, user=user, now=now, settings=context.settings, factor_at=factor_at
            )
            role = user.role
    except sso.NoTabardRoleError as refused:
        return _no_access(request, context, str(refused.detail))
    except TabardError as refused:
        log.info("single sign-on refused: %s", refused.error_code)
        message = refused.detail if isinstance(refused.detail, str) else "sign-in refused"
        return _again(request, context, message[:1].upper() + message[1:], status=refused.status)
    target = safe_next(next_path) or HOME.get(role, "/console")
    response = render(request, "sso_signed_in.html", target=target)
    set_session(response, request, context, secret)
    response.delete_cookie(FLOW_COOKIE, path="/console/sso")
    return response


def _again(request: Request, context: AppContext, message: str, *, status: int = 400) -> Response:
    page = _login_page(request, context, next_path=None, error=message, status=status)
    page.delete_cookie(FLOW_COOKIE, path="/console/sso")
    return page


def _no_access(request: Request, context: AppContext, message: str) -> HTMLResponse:
    page = render(
        request,
        "sso_no_access.html",
        status_code=403,
        message=message[:1].upper() + message[1:],
        provider=context.settings.oidc_provider_name,
    )
    page.delete_cookie(FLOW_COOKIE, path="/console/sso")
    return page
