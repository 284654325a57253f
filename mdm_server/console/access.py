"""Who may open a console page: the same roles as the API route the page stands for.

A page declares `ConsoleAccess.like(api_endpoint)`, which copies the roles of that endpoint's
own access rule, so the console can never allow a role the API refuses. Signing in is by the
session cookie alone; every request that changes something must also carry the session's
CSRF token, in the `csrf_token` form field or the `X-CSRF-Token` header (htmx sends it)."""

from __future__ import annotations

import logging
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from mdm_server.auth.roles import STAFF_ROLES, role_name, roles_in_words
from mdm_server.console import sessions
from mdm_server.context import AppContext
from mdm_server.deps import AccessRule, StaffAccess, StaffPrincipal, app_context
from mdm_server.errors import AuthenticationError, PermissionDeniedError

SESSION_COOKIE = "tabard_session"
LOGIN_COOKIE = "tabard_login"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Viewer:
    """Who is signed in, as the page furniture (menu, name, sign-out) needs them: also on a
    page they may not open, and on an error page."""

    username: str
    role: str
    csrf_token: str


class SignInRequiredError(AuthenticationError):
    """No live console session: the console answers with the sign-in page."""

    code = "sign_in_required"


class CsrfError(PermissionDeniedError):
    code = "csrf_failed"


class NotForYourRoleError(PermissionDeniedError):
    """A signed-in person opened a page that is not for their role."""

    code = "not_for_your_role"


@dataclass(frozen=True)
class ConsolePrincipal(StaffPrincipal):
    """A signed-in console user: a staff principal, as the API's services take, with the
    session's CSRF token for the forms it renders."""

    session_id: uuid.UUID
    csrf_token: str


def api_roles(endpoint: Callable[..., Any]) -> frozenset[str]:
    """The roles an API endpoint's access rule allows."""
    hints = typing.get_type_hints(endpoint, include_extras=True)
    for hint in hints.values():
        for meta in getattr(hint, "__metadata__", ()):
            rule = getattr(meta, "dependency", None)
            if isinstance(rule, AccessRule):
                return rule.roles
    raise RuntimeError(f"{endpoint.__qualname__} declares no access rule")


class ConsoleAccess(StaffAccess):
    """The caller must hold a live console session for one of `roles` (and, unless the
    method is safe, the session's CSRF token). Roles and the password-change rule are the
    API's own (`StaffAccess.admit`); only the credential differs."""

    wrong_role = "this page is for {allowed} only; you are signed in as {you}"
    must_change_first = "choose a new password first"

    @classmethod
    def like(cls, endpoint: Callable[..., Any]) -> ConsoleAccess:
        """The access rule of the API endpoint the page stands for."""
        return cls(*api_roles(endpoint))

    async def __call__(self, request: Request) -> ConsolePrincipal:  # type: ignore[override]
        context = app_context(request)
        secret = request.cookies.get(SESSION_COOKIE, "")
        signed_in = await run_in_threadpool(self._resolve, context, secret)
        if signed_in is None:
            raise SignInRequiredError("sign in to use the console")
        token = sessions.csrf_token(context.console_csrf_key, signed_in.session_id)
        request.state.console_viewer = Viewer(signed_in.user.username, signed_in.user.role, token)
        if request.method not in SAFE_METHODS:
            given = request.headers.get(CSRF_HEADER)
            if given is None:
                field = (await request.form()).get(CSRF_FIELD)
                given = field if isinstance(field, str) else None
            if not sessions.tokens_match(given, token):
                raise CsrfError(
                    "this form has expired or did not come from the console; reload the page "
                    "and try again"
                )
        if signed_in.user.role not in self.roles:
            raise NotForYourRoleError(
                self.wrong_role.format(
                    allowed=roles_in_words(self.roles), you=role_name(signed_in.user.role).a
                )
            )
        principal = self.admit(
            signed_in.user,
            request,
            factor_enrolled=signed_in.factor_enrolled,
            factor_at=signed_in.factor_at,
        )
        return ConsolePrincipal(
            **vars(principal), session_id=signed_in.session_id, csrf_token=token
        )

    @staticmethod
    def _resolve(context: AppContext, secret: str) -> sessions.SignedIn | None:
        now, settings = context.clock(), context.settings
        with context.database.unit_of_work(write=False) as session:
            signed_in = sessions.resolve(session, secret=secret, now=now, settings=settings)
        if signed_in is not None and now - signed_in.last_seen_at >= sessions.TOUCH_EVERY:
            with context.database.unit_of_work() as session:
                sessions.touch(session, session_id=signed_in.session_id, now=now)
        return signed_in


def viewer_of(request: Request) -> Viewer | None:
    """Who is signed in, for a page rendered outside a page's own access rule (an error page,
    a page not found): the rule's finding if it ran, else the session cookie's, else nobody.
    Never fails: an error page must render even when the database is what failed."""
    stashed = getattr(request.state, "console_viewer", None)
    if isinstance(stashed, Viewer):
        return stashed
    secret = request.cookies.get(SESSION_COOKIE, "")
    if not secret:
        return None
    try:
        context = app_context(request)
        signed_in = ConsoleAccess._resolve(context, secret)
        if signed_in is None:
            return None
        token = sessions.csrf_token(context.console_csrf_key, signed_in.session_id)
    except Exception:  # the page is shown without the menu instead
        log.warning("could not tell who is signed in for an error page", exc_info=True)
        return None
    return Viewer(signed_in.user.username, signed_in.user.role, token)


AnySignedIn = Annotated[ConsolePrincipal, Depends(ConsoleAccess(*STAFF_ROLES))]
AnySignedInPendingPassword = Annotated[
    ConsolePrincipal,
    Depends(ConsoleAccess(*STAFF_ROLES, allow_pending_password_change=True)),
]
