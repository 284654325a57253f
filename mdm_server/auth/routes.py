"""Login, token refresh, logout and password change; staff account administration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from sqlmodel import Session

from mdm_server.auth import accounts, service, throttle
from mdm_server.auth.models import StaffUser
from mdm_server.auth.schemas import (
    LoginRequest,
    PasswordChange,
    RefreshRequest,
    SecondFactorChallenge,
    TokenPair,
    UserCreate,
    UserCreated,
    UserPage,
    UserPublic,
)
from mdm_server.context import AppContext
from mdm_server.crypto.passwords import one_time_password
from mdm_server.deps import (
    AnyStaffPendingPassword,
    ContextDep,
    ITAdmin,
    PublicAccess,
    StaffPrincipal,
    anonymous_actor,
    client_ip,
)
from mdm_server.errors import error_responses

auth_router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
users_router = APIRouter(prefix="/api/v1/users", tags=["users"])


@auth_router.post("/login", responses=error_responses(401, 429))
def login(
    body: LoginRequest, request: Request, context: ContextDep, _: PublicAccess
) -> TokenPair | SecondFactorChallenge:
    """Exchange a username and password for an access token and a refresh token; or, for an
    account with a second factor, for a challenge to send with a code to
    POST /api/v1/auth/login/code.

    Repeated failures from one address make that address wait before trying again, longer
    each time (429 with `Retry-After`); other addresses are not held up. The Argon2id check
    runs outside any transaction so that a login never holds the database's write lock while it
    hashes, and is skipped while the address must wait."""
    checked = check_password(context, body.username, body.password, client_ip(request))
    with context.database.unit_of_work() as session:
        return service.complete_login(
            session,
            username=body.username,
            checked_hash=checked.stored_hash,
            password_ok=checked.ok,
            upgraded_hash=checked.upgraded_hash,
            actor=anonymous_actor(request),
            now=context.clock(),
            settings=context.settings,
            tokens=context.staff_tokens,
        )


@dataclass(frozen=True)
class CheckedPassword:
    stored_hash: str | None  # the hash checked against (None: no such user)
    ok: bool | None  # None: not checked, as the address must wait
    upgraded_hash: str | None  # a new hash at today's Argon2 cost, when the old one was cheaper


def check_password(
    context: AppContext, username: str, password: str, address: str | None
) -> CheckedPassword:
    """Check a sign-in's password outside any transaction, so that a login never holds the
    database's write lock while Argon2id hashes (the API's login and the console's); not at all
    while the address must wait, so a guesser cannot spend the server's time either."""
    rules = throttle.Rules.of(context.settings)
    with context.database.unit_of_work(write=False) as session:
        wait = throttle.retry_at(
            session, username=username, address=address, now=context.clock(), rules=rules
        )
        stored_hash = service.password_hash_for_login(session, username=username)
    if wait is not None:
        return CheckedPassword(stored_hash, None, None)
    ok = context.passwords.verify(stored_hash, password)
    upgraded = None
    if ok and stored_hash and context.passwords.needs_rehash(stored_hash):
        upgraded = context.passwords.hash(password)  # cost settings were raised
    return CheckedPassword(stored_hash, ok, upgraded)


@auth_router.post("/refresh", responses=error_responses(401))
def refresh_tokens(
    body: RefreshRequest, request: Request, context: ContextDep, _: PublicAccess
) -> TokenPair:
    """Rotate a refresh token for a new pair. Reusing a spent refresh token ends the login."""
    with context.database.unit_of_work() as session:
        return service.refresh(
            session,
            refresh_token=body.refresh_token,
            actor=anonymous_actor(request),
            now=context.clock(),
            settings=context.settings,
            tokens=context.staff_tokens,
        )


@auth_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(body: RefreshRequest, request: Request, context: ContextDep, _: PublicAccess) -> None:
    """Revoke the login a refresh token belongs to."""
    with context.database.unit_of_work() as session:
        service.logout(
            session,
            refresh_token=body.refresh_token,
            actor=anonymous_actor(request),
            now=context.clock(),
        )


@auth_router.post("/password")
def change_password(
    body: PasswordChange, principal: AnyStaffPendingPassword, context: ContextDep
) -> TokenPair:
    """Change your own password; other sessions end and a fresh token pair is returned."""
    service.check_password_policy(
        body.new_password, settings=context.settings, username=principal.username
    )
    with context.database.unit_of_work(write=False) as session:
        stored_hash = service.password_hash_for_login(session, username=principal.username)
    current_ok = context.passwords.verify(stored_hash, body.current_password)
    new_hash = context.passwords.hash(body.new_password)
    with context.database.unit_of_work() as session:
        return service.change_password(
            session,
            user_id=principal.user_id,
            checked_hash=stored_hash,
            current_ok=current_ok,
            new_hash=new_hash,
            actor=principal.actor,
            now=context.clock(),
            settings=context.settings,
            tokens=context.staff_tokens,
        )


@auth_router.get("/me")
def who_am_i(principal: AnyStaffPendingPassword, context: ContextDep) -> UserPublic:
    """The account the access token belongs to."""
    with context.database.unit_of_work(write=False) as session:
        return service.to_public(accounts.get_user_by_username(session, principal.username))


@users_router.post("", status_code=status.HTTP_201_CREATED, responses=error_responses(409))
def create_user(body: UserCreate, principal: ITAdmin, context: ContextDep) -> UserCreated:
    """Create a staff account. Without a password, a one-time password is generated and
    returned once. Either way the user must choose their own at first login."""
    generated = one_time_password() if body.password is None else None
    password = body.password or generated
    assert password is not None
    service.check_password_policy(password, settings=context.settings, username=body.username)
    password_hash = context.passwords.hash(password)
    with context.database.unit_of_work() as session:
        user = accounts.create_user(
            session,
            data=body,
            password_hash=password_hash,
            must_change_password=True,
            actor=principal.actor,
            now=context.clock(),
        )
        return UserCreated(**service.to_public(user).model_dump(), one_time_password=generated)


@users_router.get("")
def list_users(
    _: ITAdmin,
    context: ContextDep,
    role: str | None = None,
    division: str | None = None,
    include_disabled: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> UserPage:
    """Staff accounts, filtered by role and division."""
    with context.database.unit_of_work(write=False) as session:
        users, total = accounts.list_users(
            session,
            role=role,
            division=division,
            include_disabled=include_disabled,
            limit=limit,
            offset=offset,
        )
        items = [_with_throttle(session, context, user) for user in users]
    return UserPage(items=items, total=total, limit=limit, offset=offset)


@users_router.get("/{username}")
def get_user(username: str, _: ITAdmin, context: ContextDep) -> UserPublic:
    """One staff account."""
    with context.database.unit_of_work(write=False) as session:
        return _with_throttle(session, context, accounts.get_user_by_username(session, username))


def _with_throttle(session: Session, context: AppContext, user: StaffUser) -> UserPublic:
    until = throttle.throttled_until(
        session,
        username=user.username,
        now=context.clock(),
        rules=throttle.Rules.of(context.settings),
    )
    return service.to_public(user, throttled_until=until)


def _set_disabled(
    username: str, *, disabled: bool, principal: StaffPrincipal, context: AppContext
) -> UserPublic:
    with context.database.unit_of_work() as session:
        user = accounts.set_disabled(
            session,
            username=username,
            disabled=disabled,
            actor=principal.actor,
            now=context.clock(),
        )
        return service.to_public(user)


@users_router.post("/{username}/disable")
def disable_user(username: str, principal: ITAdmin, context: ContextDep) -> UserPublic:
    """Disable an account and end its sessions."""
    return _set_disabled(username, disabled=True, principal=principal, context=context)


@users_router.post("/{username}/enable")
def enable_user(username: str, principal: ITAdmin, context: ContextDep) -> UserPublic:
    """Re-enable a disabled account."""
    return _set_disabled(username, disabled=False, principal=principal, context=context)


@users_router.post("/{username}/unlock")
def unlock_user(username: str, principal: ITAdmin, context: ContextDep) -> UserPublic:
    """Forgive the account's failed sign-ins, so no address must wait to try again."""
    with context.database.unit_of_work() as session:
        user = accounts.unlock(
            session, username=username, actor=principal.actor, now=context.clock()
        )
        return service.to_public(user)


@users_router.post("/{username}/reset-password")
def reset_password(username: str, principal: ITAdmin, context: ContextDep) -> UserCreated:
    """Give the account a temporary password, returned this once: its sessions end and the
    user must choose their own password at next login (audited)."""
    generated = one_time_password()
    password_hash = context.passwords.hash(generated)
    with context.database.unit_of_work() as session:
        user = accounts.reset_password(
            session,
            username=username,
            password_hash=password_hash,
            actor=principal.actor,
            now=context.clock(),
        )
        return UserCreated(**service.to_public(user).model_dump(), one_time_password=generated)
