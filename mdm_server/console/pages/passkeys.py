"""Passkeys in the console: the page where staff add and remove theirs, and finishing a
sign-in with one. The browser's side is static/passkeys.js (navigator.credentials); the
exchanges it makes are JSON, each answered `{"redirect": URL}` or `{"error", "detail"}`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict

from mdm_server.auth import accounts, passkeys, second_factor
from mdm_server.auth import repository as auth_repository
from mdm_server.auth.roles import STAFF_ROLES
from mdm_server.auth.schemas import ChallengeToken, PasskeyName, WebAuthnCredential
from mdm_server.console import sessions
from mdm_server.console.access import LOGIN_COOKIE, ConsoleAccess, ConsolePrincipal
from mdm_server.console.pages.signin import (
    confirm_with_code,
    safe_next,
    set_session,
    signed_in_target,
)
from mdm_server.console.templating import render
from mdm_server.context import AppContext
from mdm_server.deps import ContextDep, PublicAccess, anonymous_actor
from mdm_server.errors import PermissionDeniedError, TabardError

router = APIRouter(prefix="/console", include_in_schema=False)
# Reachable before a second factor is set up, so that IT and auditors can set one up here.
Yourself = Annotated[
    ConsolePrincipal, Depends(ConsoleAccess(*STAFF_ROLES, allow_pending_factor=True))
]
PAGE = "/console/passkeys"


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Registration(_Body):
    ceremony_id: uuid.UUID
    name: PasskeyName
    credential: WebAuthnCredential


class Assertion(_Body):
    ceremony_id: uuid.UUID
    credential: WebAuthnCredential
    next: str = ""  # where to go back to, from the console's "Confirm it is you" page


class SignInStart(_Body):
    challenge_token: ChallengeToken


class SignIn(_Body):
    challenge_token: ChallengeToken
    ceremony_id: uuid.UUID
    credential: WebAuthnCredential
    next: str = ""


def _refused(error: TabardError) -> JSONResponse:
    detail = error.detail if isinstance(error.detail, str) else "refused"
    return JSONResponse({"error": error.error_code, "detail": detail}, status_code=error.status)


def _options(ceremony: passkeys.Ceremony) -> dict[str, Any]:
    return {"ceremony_id": str(ceremony.id), "public_key": ceremony.public_key}


def _has_factor(context: AppContext, principal: ConsolePrincipal) -> bool:
    with context.database.unit_of_work(write=False) as session:
        return auth_repository.has_confirmed_factor(session, principal.user_id)


def _fresh(context: AppContext, principal: ConsolePrincipal) -> bool:
    """Whether this session used a second factor recently enough to change factors."""
    try:
        second_factor.require_fresh_factor(
            principal.factor_at, now=context.clock(), settings=context.settings
        )
    except PermissionDeniedError:
        return False
    return True


def _must_step_up(context: AppContext) -> PermissionDeniedError:
    minutes = max(1, context.settings.step_up_max_age_s // 60)
    return PermissionDeniedError(
        f"adding or removing a passkey needs your second factor within the last {minutes} "
        "minutes: confirm it is you first",
        code="step_up_required",
    )


@router.get("/passkeys")
def show_passkeys(
    request: Request,
    principal: Yourself,
    context: ContextDep,
    added: str | None = None,
    removed: str | None = None,
) -> HTMLResponse:
    """Your passkeys: add one, remove one."""
    return _page(request, principal, context, added=added is not None, removed=removed is not None)


def _page(
    request: Request,
    principal: ConsolePrincipal,
    context: AppContext,
    *,
    added: bool = False,
    removed: bool = False,
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    with context.database.unit_of_work(write=False) as session:
        mine = auth_repository.list_passkeys(session, principal.user_id)
        has_factor = auth_repository.has_confirmed_factor(session, principal.user_id)
        has_totp = auth_repository.has_totp(session, principal.user_id)
    rp = passkeys.RelyingParty.of(context.settings)
    return render(
        request,
        "passkeys.html",
        principal=principal,
        passkeys=mine,
        needs_step_up=has_factor and not _fresh(context, principal),
        has_totp=has_totp,
        usable=rp.usable,
        rp=rp,
        most=passkeys.MAX_PASSKEYS,
        added=added,
        removed=removed,
        error=error,
        status_code=status,
        minutes=max(1, context.settings.step_up_max_age_s // 60),
    )


@router.post("/passkeys/options")
def begin_passkey_registration(principal: Yourself, context: ContextDep) -> Response:
    """A challenge for navigator.credentials.create()."""
    try:
        if _has_factor(context, principal) and not _fresh(context, principal):
            raise _must_step_up(context)
        with context.database.unit_of_work() as session:
            user = accounts.get_user_by_username(session, principal.username)
            ceremony = passkeys.begin_registration(
                session, user=user, settings=context.settings, now=context.clock()
            )
    except TabardError as refused:
        return _refused(refused)
    return JSONResponse(_options(ceremony))


@router.post("/passkeys")
def register_passkey(body: Registration, principal: Yourself, context: ContextDep) -> Response:
    """Keep the new passkey under its name."""
    now = context.clock()
    try:
        if _has_factor(context, principal) and not _fresh(context, principal):
            raise _must_step_up(context)
        with context.database.unit_of_work() as session:
            user = accounts.get_user_by_username(session, principal.username)
            passkeys.finish_registration(
                session,
                user=user,
                ceremony_id=body.ceremony_id,
                name=body.name,
                credential=body.credential,
                settings=context.settings,
                actor=principal.actor,
                now=now,
            )
            # The passkey was just used to make it, as a code confirms an authenticator app.
            sessions.stepped_up(session, session_id=principal.session_id, now=now)
    except TabardError as refused:
        return _refused(refused)
    return JSONResponse({"redirect": f"{PAGE}?added"})


@router.post("/passkeys/{passkey_id}/remove")
def remove_passkey(passkey_id: uuid.UUID, principal: Yourself, context: ContextDep) -> Response:
    """Remove one of your passkeys (after a step-up)."""
    now = context.clock()
    if _has_factor(context, principal) and not _fresh(context, principal):
        raise _must_step_up(context)
    with context.database.unit_of_work() as session:
        user = accounts.get_user_by_username(session, principal.username)
        passkeys.remove(session, user=user, passkey_id=passkey_id, actor=principal.actor, now=now)
    return RedirectResponse(f"{PAGE}?removed", status_code=303)


@router.post("/passkeys/step-up/options")
def begin_passkey_step_up(principal: Yourself, context: ContextDep) -> Response:
    """A challenge for confirming it is you with a passkey (navigator.credentials.get)."""
    try:
        with context.database.unit_of_work() as session:
            user = accounts.get_user_by_username(session, principal.username)
            ceremony = passkeys.begin_assertion(
                session,
                user=user,
                purpose=passkeys.STEP_UP,
                settings=context.settings,
                now=context.clock(),
            )
    except TabardError as refused:
        return _refused(refused)
    return JSONResponse(_options(ceremony))


@router.post("/passkeys/step-up")
def step_up_with_passkey(body: Assertion, principal: Yourself, context: ContextDep) -> Response:
    """Confirm it is you with a passkey: this session may change factors for a while."""
    now = context.clock()
    try:
        with context.database.unit_of_work() as session:
            second_factor.spend_passkey(
                session,
                user_id=principal.user_id,
                ceremony_id=body.ceremony_id,
                purpose=passkeys.STEP_UP,
                credential=body.credential,
                actor=principal.actor,
                now=now,
                settings=context.settings,
                via="console",
            )
            sessions.stepped_up(session, session_id=principal.session_id, now=now)
    except TabardError as refused:
        return _refused(refused)
    return JSONResponse({"redirect": safe_next(body.next) or PAGE})


@router.post("/passkeys/step-up/code")
def step_up_with_code(
    request: Request,
    principal: Yourself,
    context: ContextDep,
    code: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Confirm it is you with a code from the authenticator app."""
    try:
        confirm_with_code(context, principal, code)
    except TabardError as refused:
        words = refused.detail if isinstance(refused.detail, str) else "wrong code"
        return _page(request, principal, context, error=words, status=refused.status)
    return RedirectResponse(PAGE, status_code=303)


def _login_csrf_ok(request: Request, context: AppContext) -> bool:
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    expected = sessions.login_csrf_token(context.console_csrf_key, nonce)
    given = request.headers.get("x-csrf-token")
    return bool(nonce) and sessions.tokens_match(given, expected)


EXPIRED = {"error": "csrf_failed", "detail": "The sign-in form had expired. Sign in again."}


@router.post("/login/passkey/options")
def begin_passkey_sign_in(
    body: SignInStart, request: Request, context: ContextDep, _: PublicAccess
) -> Response:
    """A challenge for finishing the sign-in with a passkey (navigator.credentials.get)."""
    if not _login_csrf_ok(request, context):
        return JSONResponse(EXPIRED, status_code=403)
    now = context.clock()
    try:
        challenge = context.staff_tokens.verify_challenge(body.challenge_token, now=now)
        with context.database.unit_of_work() as session:
            user = auth_repository.get_user(session, challenge.user_id)
            if user is None or user.disabled_at is not None:
                return JSONResponse(
                    {"error": "account_disabled", "detail": "This account is disabled."},
                    status_code=401,
                )
            ceremony = passkeys.begin_assertion(
                session, user=user, purpose=passkeys.SIGN_IN, settings=context.settings, now=now
            )
    except TabardError as refused:
        return _refused(refused)
    return JSONResponse(_options(ceremony))


@router.post("/login/passkey")
def sign_in_with_passkey(
    body: SignIn, request: Request, context: ContextDep, _: PublicAccess
) -> Response:
    """Finish the sign-in with the passkey's answer; a refused answer counts as a failed
    sign-in, as a wrong code does."""
    if not _login_csrf_ok(request, context):
        return JSONResponse(EXPIRED, status_code=403)
    now = context.clock()
    actor = anonymous_actor(request)
    try:
        challenge = context.staff_tokens.verify_challenge(body.challenge_token, now=now)
        with context.database.unit_of_work() as session:
            user = second_factor.spend_passkey(
                session,
                user_id=challenge.user_id,
                ceremony_id=body.ceremony_id,
                purpose=passkeys.SIGN_IN,
                credential=body.credential,
                actor=actor,
                now=now,
                settings=context.settings,
                issued_after=challenge.issued_at,
                via="console",
            )
            second_factor.complete_sign_in(session, user=user, actor=actor, now=now, via="console")
            secret = sessions.start(
                session, user=user, now=now, settings=context.settings, factor_at=now
            )
            target = signed_in_target(
                role=user.role, pending=user.must_change_password, next_path=body.next
            )
    except TabardError as refused:
        return _refused(refused)
    response = JSONResponse({"redirect": target})
    set_session(response, request, context, secret)
    return response
