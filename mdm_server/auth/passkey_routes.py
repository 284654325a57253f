"""Passkeys: registering and removing them, signing in with one after the password, and
stepping up with one. Each answer goes with the `ceremony_id` its challenge came with."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status

from mdm_server.auth import accounts, passkeys, repository, second_factor, service
from mdm_server.auth.factor_routes import SteppedUp
from mdm_server.auth.schemas import (
    PasskeyAssertion,
    PasskeyChallengeRequest,
    PasskeyLogin,
    PasskeyOptions,
    PasskeyPublic,
    PasskeyRegistration,
    TokenPair,
)
from mdm_server.context import AppContext
from mdm_server.deps import (
    AnyStaff,
    AnyStaffPendingFactor,
    ContextDep,
    PublicAccess,
    StaffPrincipal,
    anonymous_actor,
)
from mdm_server.errors import AuthenticationError, error_responses

passkey_router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def _options(ceremony: passkeys.Ceremony) -> PasskeyOptions:
    return PasskeyOptions(
        ceremony_id=ceremony.id, public_key=ceremony.public_key, expires_at=ceremony.expires_at
    )


def _public(passkey: object) -> PasskeyPublic:
    return PasskeyPublic.model_validate(passkey, from_attributes=True)


@passkey_router.get("/passkeys")
def list_passkeys(principal: AnyStaffPendingFactor, context: ContextDep) -> list[PasskeyPublic]:
    """Your passkeys, oldest first."""
    with context.database.unit_of_work(write=False) as session:
        return [_public(p) for p in repository.list_passkeys(session, principal.user_id)]


def require_fresh_factor_if_any(context: AppContext, principal: StaffPrincipal) -> None:
    """Adding or removing a factor on an account that has one needs a step-up, so that a
    stolen session cannot plant a passkey of its own or take away the owner's."""
    with context.database.unit_of_work(write=False) as session:
        has_factor = repository.has_confirmed_factor(session, principal.user_id)
    if has_factor:
        second_factor.require_fresh_factor(
            principal.factor_at, now=context.clock(), settings=context.settings
        )


@passkey_router.post("/passkeys/enrol/options", responses=error_responses(403, 409))
def begin_passkey_registration(
    principal: AnyStaffPendingFactor, context: ContextDep
) -> PasskeyOptions:
    """A challenge for registering a new passkey (for navigator.credentials.create). Needs a
    step-up when you already have a second factor."""
    require_fresh_factor_if_any(context, principal)
    with context.database.unit_of_work() as session:
        user = accounts.get_user_by_username(session, principal.username)
        ceremony = passkeys.begin_registration(
            session, user=user, settings=context.settings, now=context.clock()
        )
    return _options(ceremony)


@passkey_router.post(
    "/passkeys", status_code=status.HTTP_201_CREATED, responses=error_responses(400, 403)
)
def register_passkey(
    body: PasskeyRegistration, principal: AnyStaffPendingFactor, context: ContextDep
) -> PasskeyPublic:
    """Keep a new passkey under the name you chose, from the browser's answer to the
    challenge. It is a second factor at your next sign-in."""
    require_fresh_factor_if_any(context, principal)
    with context.database.unit_of_work() as session:
        user = accounts.get_user_by_username(session, principal.username)
        passkey = passkeys.finish_registration(
            session,
            user=user,
            ceremony_id=body.ceremony_id,
            name=body.name,
            credential=body.credential,
            settings=context.settings,
            actor=principal.actor,
            now=context.clock(),
        )
        return _public(passkey)


@passkey_router.delete(
    "/passkeys/{passkey_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404),
)
def remove_passkey(passkey_id: uuid.UUID, principal: AnyStaff, context: ContextDep) -> None:
    """Remove one of your passkeys. Needs a step-up. IT administrators and auditors left
    with no second factor must set up another before anything else."""
    now = context.clock()
    second_factor.require_fresh_factor(principal.factor_at, now=now, settings=context.settings)
    with context.database.unit_of_work() as session:
        user = accounts.get_user_by_username(session, principal.username)
        passkeys.remove(session, user=user, passkey_id=passkey_id, actor=principal.actor, now=now)


@passkey_router.post("/login/passkey/options", responses=error_responses(401, 404, 409))
def begin_passkey_login(
    body: PasskeyChallengeRequest, context: ContextDep, _: PublicAccess
) -> PasskeyOptions:
    """A challenge for finishing a sign-in with a passkey (for navigator.credentials.get),
    given the challenge token POST /api/v1/auth/login answered the password with."""
    now = context.clock()
    challenge = context.staff_tokens.verify_challenge(body.challenge_token, now=now)
    with context.database.unit_of_work() as session:
        user = repository.get_user(session, challenge.user_id)
        if user is None or user.disabled_at is not None:
            raise AuthenticationError("account disabled", code="account_disabled")
        if challenge.issued_at < user.sessions_valid_after:
            raise AuthenticationError(
                "sign-in ended; sign in again with your password", code="invalid_challenge"
            )
        ceremony = passkeys.begin_assertion(
            session, user=user, purpose=passkeys.SIGN_IN, settings=context.settings, now=now
        )
    return _options(ceremony)


@passkey_router.post("/login/passkey", responses=error_responses(401, 429))
def login_with_passkey(
    body: PasskeyLogin, request: Request, context: ContextDep, _: PublicAccess
) -> TokenPair:
    """Finish a sign-in the password began with a passkey's answer. A refused answer counts
    as a failed sign-in from this address, as a wrong code does."""
    now = context.clock()
    challenge = context.staff_tokens.verify_challenge(body.challenge_token, now=now)
    actor = anonymous_actor(request)
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
        )
        second_factor.complete_sign_in(session, user=user, actor=actor, now=now)
        return service.issue_token_pair(
            session,
            user=user,
            now=now,
            settings=context.settings,
            tokens=context.staff_tokens,
            factor_at=now,
            factor_method="hwk",
        )


@passkey_router.post("/step-up/passkey/options", responses=error_responses(404, 409))
def begin_passkey_step_up(principal: AnyStaff, context: ContextDep) -> PasskeyOptions:
    """A challenge for stepping up with a passkey before an action that cannot be undone."""
    with context.database.unit_of_work() as session:
        user = accounts.get_user_by_username(session, principal.username)
        ceremony = passkeys.begin_assertion(
            session,
            user=user,
            purpose=passkeys.STEP_UP,
            settings=context.settings,
            now=context.clock(),
        )
    return _options(ceremony)


@passkey_router.post("/step-up/passkey", responses=error_responses(401, 429))
def step_up_with_passkey(
    body: PasskeyAssertion, principal: AnyStaff, context: ContextDep
) -> SteppedUp:
    """A fresh access token marked with a passkey used now (`amr` `hwk`, `auth_time`)."""
    now = context.clock()
    with context.database.unit_of_work() as session:
        user = second_factor.spend_passkey(
            session,
            user_id=principal.user_id,
            ceremony_id=body.ceremony_id,
            purpose=passkeys.STEP_UP,
            credential=body.credential,
            actor=principal.actor,
            now=now,
            settings=context.settings,
        )
        issued = context.staff_tokens.issue(
            user_id=user.id,
            username=user.username,
            role=user.role,
            password_change_required=user.must_change_password,
            factor_at=now,
            factor_method="hwk",
            now=now,
        )
    return SteppedUp(access_token=issued.token, expires_at=issued.expires_at)
