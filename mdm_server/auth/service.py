"""Rules for signing in: login with throttling, token rotation, logout and password changes.

Services never commit; the caller's unit of work does. Password hashing (Argon2id, tens of
milliseconds) is done by the caller outside any transaction, so services take hashes and
verification results rather than passwords."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.auth import factors, repository, throttle
from mdm_server.auth.models import RefreshToken, StaffUser
from mdm_server.auth.schemas import SecondFactorChallenge, TokenPair, UserPublic
from mdm_server.auth.tokens import StaffClaims, StaffTokens
from mdm_server.config import Settings
from mdm_server.crypto import secrets
from mdm_server.errors import (
    AuthenticationError,
    InvalidRequestError,
    TooManyAttemptsError,
)

INVALID_CREDENTIALS = "invalid username or password"


def to_public(user: StaffUser, *, throttled_until: datetime | None = None) -> UserPublic:
    return UserPublic(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        collar_number=user.collar_number,
        division=user.division,
        must_change_password=user.must_change_password,
        disabled=user.disabled_at is not None,
        sign_in_throttled_until=throttled_until,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def staff_actor(user: StaffUser, *, source_ip: str | None, request_id: str | None) -> Actor:
    return Actor(
        type="staff",
        id=str(user.id),
        name=user.username,
        role=user.role,
        source_ip=source_ip,
        request_id=request_id,
    )


def check_password_policy(password: str, *, settings: Settings, username: str) -> None:
    """Length over composition rules (NIST SP 800-63B §5.1.1.2), and not the username."""
    if len(password) < settings.password_min_length:
        raise InvalidRequestError(
            f"password must be at least {settings.password_min_length} characters",
            code="weak_password",
        )
    if username and username.lower() in password.lower():
        raise InvalidRequestError("password must not contain the username", code="weak_password")


def password_hash_for_login(session: Session, *, username: str) -> str | None:
    """The stored hash to verify a login attempt against (None for an unknown user)."""
    user = repository.get_user_by_username(session, username)
    return user.password_hash if user is not None else None


def complete_login(
    session: Session,
    *,
    username: str,
    checked_hash: str | None,
    password_ok: bool | None,
    actor: Actor,
    now: datetime,
    settings: Settings,
    tokens: StaffTokens,
    upgraded_hash: str | None = None,
) -> TokenPair | SecondFactorChallenge:
    """Apply a login attempt's outcome: throttling, audit, and tokens on success, or a
    challenge for the code when the account has a second factor. `upgraded_hash` replaces the
    stored hash after a success, when the Argon2 cost rose."""
    user = accept_login(
        session,
        username=username,
        checked_hash=checked_hash,
        password_ok=password_ok,
        actor=actor,
        now=now,
        settings=settings,
        upgraded_hash=upgraded_hash,
    )
    if repository.has_confirmed_factor(session, user.id):
        challenge = tokens.issue_challenge(user_id=user.id, username=user.username, now=now)
        return SecondFactorChallenge(
            challenge_token=challenge.token,
            expires_at=challenge.expires_at,
            methods=factor_methods(session, user.id),
        )
    return issue_token_pair(session, user=user, now=now, settings=settings, tokens=tokens)


def factor_methods(session: Session, user_id: uuid.UUID) -> list[Literal["totp", "passkey"]]:
    """The second factors an account may finish signing in with."""
    methods: list[Literal["totp", "passkey"]] = []
    if repository.has_totp(session, user_id):
        methods.append("totp")
    if repository.has_passkey(session, user_id):
        methods.append("passkey")
    return methods


def accept_login(
    session: Session,
    *,
    username: str,
    checked_hash: str | None,
    password_ok: bool | None,
    actor: Actor,
    now: datetime,
    settings: Settings,
    upgraded_hash: str | None = None,
    via: str | None = None,
) -> StaffUser:
    """Apply a login attempt's outcome (throttling and audit) and return the account on
    success; `via` names a way in other than the API (the console), for the audit event.
    `password_ok` is None when the password was not checked because the address must wait.

    Failures raise errors that keep their changes, so the failure count and the audit event
    survive the refusal. An unknown username is counted, answered and timed as a known one."""
    rules = throttle.Rules.of(settings)
    address = actor.source_ip
    wait = throttle.retry_at(session, username=username, address=address, now=now, rules=rules)
    user = repository.get_user_by_username(session, username, for_update=True)

    def audit(action: str, **detail: Any) -> None:
        record(
            session,
            actor=actor,
            action=action,
            now=now,
            target_type="staff_user",
            target_id=user.id if user else None,
            detail={"username": username, **detail},
        )

    if wait is not None or password_ok is None:
        until = wait or now + timedelta(seconds=rules.base_s)
        audit("auth.login_throttled", retry_at=until.isoformat())
        raise too_many_attempts(until, now=now)
    if user is None or not password_ok or user.password_hash != checked_hash:
        failures = throttle.failed(
            session, username=username, address=address, now=now, rules=rules
        )
        reason = "unknown_user" if user is None else "bad_password"
        audit("auth.login_failed", reason=reason, failures=failures)
        raise AuthenticationError(
            INVALID_CREDENTIALS, code="invalid_credentials", keep_changes=True
        )
    if user.disabled_at is not None:
        audit("auth.login_refused", reason="disabled")
        raise AuthenticationError("account disabled", code="account_disabled", keep_changes=True)
    if upgraded_hash is not None:
        user.password_hash = upgraded_hash
        session.add(user)
    if repository.has_confirmed_factor(session, user.id):
        # Not forgiven until the code: the password alone must not reset a guesser's count.
        audit("auth.password_accepted", second_factor="required", **({"via": via} if via else {}))
        return user
    throttle.succeeded(session, username=username, address=address, now=now)
    user.last_login_at = now
    session.add(user)
    who = staff_actor(user, source_ip=actor.source_ip, request_id=actor.request_id)
    record(
        session,
        actor=who,
        action="auth.login",
        now=now,
        target_type="staff_user",
        target_id=user.id,
        detail={"via": via} if via else None,
    )
    return user


def too_many_attempts(until: datetime, *, now: datetime) -> TooManyAttemptsError:
    """The refusal of a sign-in that must wait: the same whoever the username names."""
    seconds = max(1, math.ceil((until - now).total_seconds()))
    return TooManyAttemptsError(
        "too many failed sign-ins to this account from your address: try again after "
        f"{until.strftime('%H:%M:%S')} UTC (in {seconds} s), or from a device that signs in "
        "as usual",
        code="too_many_attempts",
        headers={"Retry-After": str(seconds)},
        keep_changes=True,
    )


def issue_token_pair(
    session: Session,
    *,
    user: StaffUser,
    now: datetime,
    settings: Settings,
    tokens: StaffTokens,
    family_id: uuid.UUID | None = None,
    factor_at: datetime | None = None,
    factor_method: str = "otp",
) -> TokenPair:
    """A fresh access token and a refresh token (a new rotation family unless given one);
    `factor_at` when a second factor was just used (`factor_method` `otp` or `hwk`)."""
    enrolment_required = factors.required_of(user, settings) and not (
        repository.has_confirmed_factor(session, user.id)
    )
    family_id = family_id or uuid.uuid4()
    access = tokens.issue(
        user_id=user.id,
        username=user.username,
        role=user.role,
        password_change_required=user.must_change_password,
        factor_enrolment_required=enrolment_required,
        factor_at=factor_at,
        family_id=family_id,
        factor_method=factor_method,
        now=now,
    )
    refresh_secret = secrets.new_secret()
    refresh = RefreshToken(
        user_id=user.id,
        family_id=family_id,
        token_digest=secrets.digest(refresh_secret),
        issued_at=now,
        expires_at=now + timedelta(seconds=settings.refresh_token_ttl_s),
    )
    session.add(refresh)
    return TokenPair(
        access_token=access.token,
        expires_at=access.expires_at,
        refresh_token=refresh_secret,
        refresh_expires_at=refresh.expires_at,
        password_change_required=user.must_change_password,
        second_factor_enrolment_required=enrolment_required,
        user=to_public(user),
    )


def refresh(
    session: Session,
    *,
    refresh_token: str,
    actor: Actor,
    now: datetime,
    settings: Settings,
    tokens: StaffTokens,
) -> TokenPair:
    """Rotate a refresh token. A spent token presented again revokes its whole family."""
    stored = repository.get_refresh_token(session, secrets.digest(refresh_token))
    if stored is None or not secrets.matches(refresh_token, stored.token_digest):
        raise AuthenticationError("refresh token not recognised; log in again")
    if stored.rotated_at is not None and stored.revoked_at is None:
        repository.revoke_refresh_family(session, stored.family_id, now=now)
        record(
            session,
            actor=actor,
            action="auth.refresh_reuse_detected",
            now=now,
            target_type="staff_user",
            target_id=stored.user_id,
            detail={"family_id": str(stored.family_id)},
        )
        raise AuthenticationError(
            "refresh token already used; every session of this login is revoked",
            keep_changes=True,
        )
    if stored.revoked_at is not None or stored.expires_at <= now:
        raise AuthenticationError("refresh token expired or revoked; log in again")
    user = repository.get_user(session, stored.user_id)
    if user is None or user.disabled_at is not None:
        raise AuthenticationError("account disabled", code="account_disabled")
    stored.rotated_at = now
    session.add(stored)
    return issue_token_pair(
        session, user=user, now=now, settings=settings, tokens=tokens, family_id=stored.family_id
    )


def logout(session: Session, *, refresh_token: str, actor: Actor, now: datetime) -> None:
    """Revoke the login the refresh token belongs to. Unknown tokens are ignored."""
    stored = repository.get_refresh_token(session, secrets.digest(refresh_token))
    if stored is None:
        return
    repository.revoke_refresh_family(session, stored.family_id, now=now)
    record(
        session,
        actor=actor,
        action="auth.logout",
        now=now,
        target_type="staff_user",
        target_id=stored.user_id,
    )


def change_password(
    session: Session,
    *,
    user_id: uuid.UUID,
    checked_hash: str | None,
    current_ok: bool,
    new_hash: str,
    actor: Actor,
    now: datetime,
    settings: Settings,
    tokens: StaffTokens,
) -> TokenPair:
    """Set a new password; every other session of the account ends."""
    user = set_password(
        session,
        user_id=user_id,
        checked_hash=checked_hash,
        current_ok=current_ok,
        new_hash=new_hash,
        actor=actor,
        now=now,
    )
    return issue_token_pair(session, user=user, now=now, settings=settings, tokens=tokens)


def set_password(
    session: Session,
    *,
    user_id: uuid.UUID,
    checked_hash: str | None,
    current_ok: bool,
    new_hash: str,
    actor: Actor,
    now: datetime,
) -> StaffUser:
    """Replace the account's password after checking the current one; every session of the
    account (API logins and console sign-ins) ends."""
    user = repository.get_user(session, user_id, for_update=True)
    if user is None:
        raise AuthenticationError("account no longer exists")
    if not current_ok or user.password_hash != checked_hash:
        raise AuthenticationError("current password is wrong", code="invalid_credentials")
    user.password_hash = new_hash
    user.must_change_password = False
    repository.end_sessions(session, user, now=now)
    record(
        session,
        actor=actor,
        action="auth.password_changed",
        now=now,
        target_type="staff_user",
        target_id=user.id,
    )
    return user


def resolve_principal(session: Session, *, claims: StaffClaims, now: datetime) -> StaffUser:
    """The account behind a verified access token, if it may still act."""
    user = repository.get_user(session, claims.user_id)
    if user is None:
        raise AuthenticationError("account no longer exists")
    if user.disabled_at is not None:
        raise AuthenticationError("account disabled", code="account_disabled")
    if claims.issued_at < user.sessions_valid_after:
        raise AuthenticationError("session ended (password changed or sessions revoked)")
    if user.role not in claims.roles:
        raise AuthenticationError("role changed since this token was issued; log in again")
    if claims.family_id is not None and repository.refresh_family_revoked(
        session, claims.family_id
    ):
        raise AuthenticationError(
            "this sign-in has ended (signed out, or its refresh token was used twice); log in again"
        )
    return user


def purge_expired_refresh_tokens(session: Session, *, now: datetime) -> int:
    return repository.delete_expired_refresh_tokens(session, before=now - timedelta(days=1))
