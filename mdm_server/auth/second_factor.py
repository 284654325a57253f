"""Signing in with a second factor, and stepping up before an action that cannot be undone.

A code is checked under the same sign-in throttle as a password (mdm_server.auth.throttle):
a wrong or replayed code counts as a failed sign-in of the account from that address, and
while the address must wait no code is checked at all. Services never commit."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from mdm_server.audit.service import Actor
from mdm_server.auth import factors, passkeys, repository, throttle
from mdm_server.auth.models import StaffUser
from mdm_server.auth.service import staff_actor, too_many_attempts
from mdm_server.config import Settings
from mdm_server.crypto.master import MasterKey
from mdm_server.errors import AuthenticationError, PermissionDeniedError

WRONG_CODE = (
    "wrong code: type the six digits your authenticator app shows now, or an unused recovery code"
)
STEP_UP_HOW = (
    "this action needs your second factor within the last {minutes} minutes: send a current "
    "code to POST /api/v1/auth/step-up (tabard mfa step-up), or use a passkey through "
    "POST /api/v1/auth/step-up/passkey, and retry with the token it returns"
)
SIGN_IN_AGAIN = (
    "this action needs you to have signed in at {provider} within the last {minutes} minutes: "
    "run tabard login --sso again (in the console, Confirm it is you offers to sign in again) "
    "and retry"
)
WRONG_PASSKEY = (
    "the passkey was not accepted: use one registered to your account, at this server's own "
    "address, and try again"
)


def spend_code(
    session: Session,
    *,
    user_id: uuid.UUID,
    code: str,
    actor: Actor,
    now: datetime,
    settings: Settings,
    keys: MasterKey,
    issued_after: datetime | None = None,
    via: str | None = None,
) -> StaffUser:
    """Check a code for the account, throttled as a sign-in; the account when it is right.
    `issued_after` is when the challenge was issued, so that ending the account's sessions also
    ends the sign-ins waiting for a code."""
    return spend_factor(
        session,
        user_id=user_id,
        check=lambda user: factors.check_code(session, user=user, code=code, keys=keys, now=now),
        passkey=False,
        actor=actor,
        now=now,
        settings=settings,
        issued_after=issued_after,
        via=via,
    )


def spend_passkey(
    session: Session,
    *,
    user_id: uuid.UUID,
    ceremony_id: uuid.UUID,
    purpose: str,
    credential: Mapping[str, Any],
    actor: Actor,
    now: datetime,
    settings: Settings,
    issued_after: datetime | None = None,
    via: str | None = None,
) -> StaffUser:
    """Check a passkey's answer to the account's challenge, throttled as a sign-in, as
    `spend_code` checks a code; the account when it is good."""
    return spend_factor(
        session,
        user_id=user_id,
        check=lambda user: passkeys.check_assertion(
            session,
            user=user,
            ceremony_id=ceremony_id,
            purpose=purpose,
            credential=credential,
            settings=settings,
            now=now,
        ),
        passkey=True,
        actor=actor,
        now=now,
        settings=settings,
        issued_after=issued_after,
        via=via,
    )


def spend_factor(
    session: Session,
    *,
    user_id: uuid.UUID,
    check: Callable[[StaffUser], factors.CodeCheck],
    passkey: bool,
    actor: Actor,
    now: datetime,
    settings: Settings,
    issued_after: datetime | None = None,
    via: str | None = None,
) -> StaffUser:
    """Use a second factor (a code, or a passkey's answer when `passkey`: whatever `check`
    checks) under the sign-in throttle and audit; the account when it is good, else 401."""
    user = repository.get_user(session, user_id, for_update=True)
    if user is None or user.disabled_at is not None:
        raise AuthenticationError("account disabled", code="account_disabled")
    if issued_after is not None and issued_after < user.sessions_valid_after:
        raise AuthenticationError(
            "sign-in ended; sign in again with your password", code="invalid_challenge"
        )
    rules = throttle.Rules.of(settings)
    address, username = actor.source_ip, user.username
    who = staff_actor(user, source_ip=actor.source_ip, request_id=actor.request_id)
    wait = throttle.retry_at(session, username=username, address=address, now=now, rules=rules)
    if wait is not None:
        factors.audit_account(
            session, who, "auth.login_throttled", user, now, retry_at=wait.isoformat()
        )
        raise too_many_attempts(wait, now=now)
    checked = check(user)
    which = {"passkey": checked.passkey} if checked.passkey else {}
    if checked.kind is None:
        failures = throttle.failed(
            session, username=username, address=address, now=now, rules=rules
        )
        factors.audit_account(
            session,
            who,
            "auth.second_factor_failed",
            user,
            now,
            reason=checked.reason,
            failures=failures,
            **({"kind": "passkey"} if passkey else {}),
            **_via(via),
        )
        if passkey:
            raise AuthenticationError(WRONG_PASSKEY, code="passkey_refused", keep_changes=True)
        raise AuthenticationError(WRONG_CODE, code="invalid_code", keep_changes=True)
    throttle.succeeded(session, username=username, address=address, now=now)
    factors.audit_account(
        session,
        who,
        "auth.second_factor_used",
        user,
        now,
        kind=checked.kind,
        **which,
        **_via(via),
    )
    return user


def complete_sign_in(
    session: Session, *, user: StaffUser, actor: Actor, now: datetime, via: str | None = None
) -> None:
    """Record a sign-in finished with a code."""
    user.last_login_at = now
    session.add(user)
    who = staff_actor(user, source_ip=actor.source_ip, request_id=actor.request_id)
    factors.audit_account(session, who, "auth.login", user, now, second_factor="used", **_via(via))


def require_fresh_factor(factor_at: datetime | None, *, now: datetime, settings: Settings) -> None:
    """403 `step_up_required` unless a second factor was used within the step-up window."""
    if not _fresh(factor_at, now=now, settings=settings):
        minutes = max(1, settings.step_up_max_age_s // 60)
        raise PermissionDeniedError(STEP_UP_HOW.format(minutes=minutes), code="step_up_required")


def require_fresh_sign_in(factor_at: datetime | None, *, now: datetime, settings: Settings) -> None:
    """For a single sign-on account: 403 `step_up_required` unless the person signed in at
    the provider (or used a Tabard factor) within the step-up window. The answer carries the
    challenge of RFC 9470 §3 (`insufficient_user_authentication`, with `max_age` and any
    `acr_values`), which tells the CLI to sign in again rather than ask for a code."""
    if _fresh(factor_at, now=now, settings=settings):
        return
    window = settings.step_up_max_age_s
    challenge = f'Bearer error="insufficient_user_authentication", max_age="{window}"'
    if settings.oidc_step_up_acr is not None:
        challenge += f', acr_values="{settings.oidc_step_up_acr}"'
    message = SIGN_IN_AGAIN.format(
        provider=settings.oidc_provider_name, minutes=max(1, window // 60)
    )
    raise PermissionDeniedError(
        message, code="step_up_required", headers={"WWW-Authenticate": challenge}
    )


def _fresh(factor_at: datetime | None, *, now: datetime, settings: Settings) -> bool:
    window = timedelta(seconds=settings.step_up_max_age_s)
    return not (
        factor_at is None or factor_at > now + timedelta(seconds=30) or now - factor_at > window
    )


def require_step_up(
    session: Session,
    *,
    user_id: uuid.UUID,
    factor_at: datetime | None,
    now: datetime,
    settings: Settings,
) -> None:
    """Before an action that cannot be undone (approving a full wipe or a retirement, a
    policy for the whole fleet, an evidential bundle, removing someone's factor): 403
    `step_up_required` unless a second factor was used within the step-up window. Someone
    with no factor, where the force does not require one of their role, has nothing to step
    up with, and the action goes ahead; a single sign-on account steps up by signing in at
    the provider again, which counts from its `auth_time` (docs/identity.md)."""
    user = repository.get_user(session, user_id)
    if user is not None and user.single_sign_on:
        require_fresh_sign_in(factor_at, now=now, settings=settings)
        return
    if (
        factor_at is None
        and user is not None
        and not factors.required_of(user, settings)
        and not repository.has_confirmed_factor(session, user_id)
    ):
        return
    require_fresh_factor(factor_at, now=now, settings=settings)


def _via(via: str | None) -> dict[str, str]:
    return {"via": via} if via else {}
