"""Signing in and out of the console, and choosing a new password."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mdm_server.auth import repository as auth_repository
from mdm_server.auth import second_factor
from mdm_server.auth import service as auth_service
from mdm_server.auth.routes import check_password
from mdm_server.console import sessions
from mdm_server.console.access import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    AnySignedIn,
    AnySignedInPendingPassword,
    ConsolePrincipal,
)
from mdm_server.console.navigation import HOME
from mdm_server.console.templating import render
from mdm_server.context import AppContext
from mdm_server.crypto import secrets
from mdm_server.deps import ContextDep, PublicAccess, anonymous_actor, client_ip
from mdm_server.errors import AuthenticationError, InvalidRequestError, TooManyAttemptsError

router = APIRouter(prefix="/console", include_in_schema=False)
Text = Annotated[str, Form(max_length=256)]


def _secure(context: AppContext, request: Request) -> bool:
    return context.settings.public_url.startswith("https:") or request.url.scheme == "https"


def safe_next(target: str | None) -> str | None:
    """Only console paths on this server: never another host, so sign-in is no open redirect."""
    if not target or any(char in target for char in "\\\r\n"):
        return None
    if target == "/console" or target.startswith(("/console/", "/console?")):
        return target
    return None


def set_session(response: Response, request: Request, context: AppContext, secret: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=context.settings.console_session_max_s,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=_secure(context, request),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/console")


def _login_page(
    request: Request,
    context: AppContext,
    *,
    next_path: str | None,
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    nonce = secrets.new_secret(16)
    response = render(
        request,
        "login.html",
        status_code=status,
        csrf_token=sessions.login_csrf_token(context.console_csrf_key, nonce),
        next_path=safe_next(next_path) or "",
        error=error,
        sso_name=context.settings.oidc_provider_name if context.oidc is not None else None,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=3600,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=_secure(context, request),
    )
    return response


@router.get("/login")
def show_login(
    request: Request, context: ContextDep, _: PublicAccess, next: str | None = None
) -> HTMLResponse:
    """The sign-in form."""
    return _login_page(request, context, next_path=next)


@router.post("/login")
def sign_in(
    request: Request,
    context: ContextDep,
    _: PublicAccess,
    username: Text,
    password: Text,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """Check the password as the API's login does (throttling, audit), then open a session."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    expected = sessions.login_csrf_token(context.console_csrf_key, nonce)
    if not nonce or not sessions.tokens_match(csrf_token, expected):
        return _login_page(
            request,
            context,
            next_path=next,
            error="The sign-in form had expired. Please sign in again.",
            status=403,
        )
    checked = check_password(context, username, password, client_ip(request))
    now = context.clock()
    try:
        with context.database.unit_of_work() as session:
            user = auth_service.accept_login(
                session,
                username=username,
                checked_hash=checked.stored_hash,
                password_ok=checked.ok,
                upgraded_hash=checked.upgraded_hash,
                actor=anonymous_actor(request),
                now=now,
                settings=context.settings,
                via="console",
            )
            if auth_repository.has_confirmed_factor(session, user.id):
                # Never a session on the password alone: the code page finishes the sign-in.
                challenge = context.staff_tokens.issue_challenge(
                    user_id=user.id, username=user.username, now=now
                )
                methods = list[str](auth_service.factor_methods(session, user.id))
                return _code_page(request, csrf_token, challenge.token, next, methods=methods)
            secret = sessions.start(session, user=user, now=now, settings=context.settings)
            role, pending = user.role, user.must_change_password
    except (AuthenticationError, TooManyAttemptsError) as refused:
        return _refused_page(request, context, refused, next)
    return _signed_in(request, context, secret, role=role, pending=pending, next_path=next)


def _refused_page(
    request: Request,
    context: AppContext,
    refused: AuthenticationError | TooManyAttemptsError,
    next_path: str,
) -> HTMLResponse:
    message = refused.detail if isinstance(refused.detail, str) else "sign-in refused"
    page = _login_page(request, context, next_path=next_path, error=message, status=refused.status)
    page.headers.update(refused.headers)
    return page


def _signed_in(
    request: Request,
    context: AppContext,
    secret: str,
    *,
    role: str,
    pending: bool,
    next_path: str,
) -> Response:
    target = signed_in_target(role=role, pending=pending, next_path=next_path)
    response = RedirectResponse(target, status_code=303)
    set_session(response, request, context, secret)
    return response


def signed_in_target(*, role: str, pending: bool, next_path: str) -> str:
    """Where a sign-in goes: choosing a password, the page asked for, or the role's home."""
    if pending:
        return "/console/password"
    return safe_next(next_path) or HOME.get(role, "/console")


def _code_page(
    request: Request,
    csrf_token: str,
    challenge_token: str,
    next_path: str,
    *,
    methods: list[str],
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    """The page after the password: a code from the authenticator app, or a passkey, as the
    account has them."""
    return render(
        request,
        "code.html",
        status_code=status,
        csrf_token=csrf_token,
        challenge_token=challenge_token,
        next_path=safe_next(next_path) or "",
        methods=methods,
        error=error,
    )


def _methods(context: AppContext, user_id: uuid.UUID) -> list[str]:
    with context.database.unit_of_work(write=False) as session:
        return list(auth_service.factor_methods(session, user_id))


@router.post("/login/code")
def sign_in_with_code(
    request: Request,
    context: ContextDep,
    _: PublicAccess,
    code: Annotated[str, Form(max_length=32)] = "",
    challenge_token: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """Finish a sign-in the password began, with a code from the authenticator app or an
    unused recovery code; a wrong code counts as a failed sign-in, as in the API."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    expected = sessions.login_csrf_token(context.console_csrf_key, nonce)
    if not nonce or not sessions.tokens_match(csrf_token, expected):
        return _login_page(
            request,
            context,
            next_path=next,
            error="The sign-in form had expired. Please sign in again.",
            status=403,
        )
    now = context.clock()
    actor = anonymous_actor(request)
    try:
        challenge = context.staff_tokens.verify_challenge(challenge_token, now=now)
    except AuthenticationError:
        return _login_page(
            request,
            context,
            next_path=next,
            error="The sign-in took too long. Please sign in again.",
            status=401,
        )
    if len(code.strip()) < 6:
        return _code_page(
            request,
            csrf_token,
            challenge_token,
            next,
            methods=_methods(context, challenge.user_id),
            error="Type the six digits your authenticator app shows now, or a recovery code.",
            status=400,
        )
    try:
        with context.database.unit_of_work() as session:
            user = second_factor.spend_code(
                session,
                user_id=challenge.user_id,
                code=code.strip(),
                actor=actor,
                now=now,
                settings=context.settings,
                keys=context.master_key,
                issued_after=challenge.issued_at,
                via="console",
            )
            second_factor.complete_sign_in(session, user=user, actor=actor, now=now, via="console")
            secret = sessions.start(
                session, user=user, now=now, settings=context.settings, factor_at=now
            )
            role, pending = user.role, user.must_change_password
    except TooManyAttemptsError as refused:
        return _refused_page(request, context, refused, next)
    except AuthenticationError as refused:
        if refused.error_code != "invalid_code":
            return _refused_page(request, context, refused, next)
        message = refused.detail if isinstance(refused.detail, str) else "wrong code"
        return _code_page(
            request,
            csrf_token,
            challenge_token,
            next,
            methods=_methods(context, challenge.user_id),
            error=message,
            status=401,
        )
    return _signed_in(request, context, secret, role=role, pending=pending, next_path=next)


@router.post("/logout")
def sign_out(principal: AnySignedInPendingPassword, context: ContextDep) -> Response:
    """End this console session."""
    with context.database.unit_of_work() as session:
        sessions.end(
            session, session_id=principal.session_id, actor=principal.actor, now=context.clock()
        )
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


def _step_up_page(
    request: Request,
    principal: AnySignedIn,
    context: AppContext,
    next_path: str,
    *,
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    methods = _methods(context, principal.user_id)
    with context.database.unit_of_work(write=False) as session:
        user = auth_repository.get_user(session, principal.user_id)
        sso_name = (
            context.settings.oidc_provider_name
            if user is not None and user.single_sign_on and context.oidc is not None
            else ""
        )
    back = safe_next(next_path) or ""
    return render(
        request,
        "step_up.html",
        principal=principal,
        status_code=status,
        next_path=back,
        minutes=max(1, context.settings.step_up_max_age_s // 60),
        methods=methods,
        error=error,
        sso_name=sso_name,
        sso_again="/console/sso/start?" + urlencode({"next": back, "step_up": 1}),
    )


def confirm_with_code(context: AppContext, principal: ConsolePrincipal, code: str) -> None:
    """Check a code from the person's authenticator app (or a recovery code), throttled and
    audited as any code is, and mark their console session as having used its second factor
    now (a step-up). Raises the refusal for the page to show."""
    now = context.clock()
    with context.database.unit_of_work() as session:
        second_factor.spend_code(
            session,
            user_id=principal.user_id,
            code=code.strip(),
            actor=principal.actor,
            now=now,
            settings=context.settings,
            keys=context.master_key,
            via="console",
        )
        sessions.stepped_up(session, session_id=principal.session_id, now=now)


@router.get("/step-up")
def show_step_up(
    request: Request,
    principal: AnySignedIn,
    context: ContextDep,
    next: Annotated[str, Query(max_length=512)] = "",
) -> HTMLResponse:
    """Use the second factor again before an action that cannot be undone (approving a full
    wipe or a retirement, a policy for the whole fleet, an evidential bundle, removing
    someone's factor); the console sends people here when such an action asks for it."""
    return _step_up_page(request, principal, context, next)


@router.post("/step-up")
def step_up(
    request: Request,
    principal: AnySignedIn,
    context: ContextDep,
    code: Annotated[str, Form(max_length=32)] = "",
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """Check the code (throttled and audited as any code is) and mark the session as having
    used its second factor now; back to the page the action was on."""
    if len(code.strip()) < 6:
        return _step_up_page(
            request,
            principal,
            context,
            next,
            error="Type the six digits your authenticator app shows now, or a recovery code.",
            status=400,
        )
    try:
        confirm_with_code(context, principal, code)
    except (AuthenticationError, TooManyAttemptsError) as refused:
        message = refused.detail if isinstance(refused.detail, str) else "wrong code"
        page = _step_up_page(
            request, principal, context, next, error=message, status=refused.status
        )
        page.headers.update(refused.headers)
        return page
    target = safe_next(next) or HOME.get(principal.role, "/console")
    return RedirectResponse(target, status_code=303)


@router.get("")
def console_home(principal: AnySignedIn) -> Response:
    """Each role's first page."""
    return RedirectResponse(HOME.get(principal.role, "/console/login"), status_code=303)


@router.get("/password")
def show_password_form(
    request: Request, principal: AnySignedInPendingPassword, context: ContextDep
) -> HTMLResponse:
    """Choose a new password (required at first sign-in)."""
    return render(
        request,
        "password.html",
        principal=principal,
        minimum=context.settings.password_min_length,
        error="",
    )


@router.post("/password")
def change_password(
    request: Request,
    principal: AnySignedInPendingPassword,
    context: ContextDep,
    current_password: Text,
    new_password: Text,
    confirm_password: Text,
) -> Response:
    """Set a new password; every other session ends and this browser signs in afresh."""

    def again(error: str, status: int) -> HTMLResponse:
        return render(
            request,
            "password.html",
            principal=principal,
            minimum=context.settings.password_min_length,
            error=error,
            status_code=status,
        )

    if new_password != confirm_password:
        return again("The new password and its confirmation differ.", 400)
    try:
        auth_service.check_password_policy(
            new_password, settings=context.settings, username=principal.username
        )
    except InvalidRequestError as weak:
        return again(str(weak.detail), 400)
    with context.database.unit_of_work(write=False) as session:
        stored_hash = auth_service.password_hash_for_login(session, username=principal.username)
    current_ok = context.passwords.verify(stored_hash, current_password)
    new_hash = context.passwords.hash(new_password)
    now = context.clock()
    try:
        with context.database.unit_of_work() as session:
            user = auth_service.set_password(
                session,
                user_id=principal.user_id,
                checked_hash=stored_hash,
                current_ok=current_ok,
                new_hash=new_hash,
                actor=principal.actor,
                now=now,
            )
            sessions.revoke_all(session, user_id=user.id, now=now)
            secret = sessions.start(session, user=user, now=now, settings=context.settings)
            role = user.role
    except AuthenticationError as refused:
        return again(str(refused.detail), 401)
    response = RedirectResponse(HOME.get(role, "/console"), status_code=303)
    set_session(response, request, context, secret)
    return response
