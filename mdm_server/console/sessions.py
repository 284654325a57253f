"""Console sign-ins: create, resolve and end browser sessions, and their CSRF tokens.

The cookie holds a 256-bit random secret; the database holds its SHA-256 digest, looked up
by digest and compared in constant time. The CSRF token is an HMAC of the session's id under
a key derived from the master key (a synchronizer token, OWASP CSRF Prevention Cheat Sheet):
it changes with every sign-in and cannot be forged without the key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from mdm_server.audit.service import Actor, record
from mdm_server.auth import factors
from mdm_server.auth import repository as auth_repository
from mdm_server.auth.models import StaffUser
from mdm_server.config import Settings
from mdm_server.console.models import ConsoleSession
from mdm_server.crypto import secrets

CSRF_KEY_PURPOSE = b"tabard/console/csrf/v1"
# A session's last request is written back at most this often, so reading pages does not
# take the database's write lock on every click.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SignedIn:
    """A live console session and the account behind it."""

    session_id: uuid.UUID
    user: StaffUser
    last_seen_at: datetime
    factor_enrolled: bool = True  # False: an IT administrator or auditor without a factor yet
    factor_at: datetime | None = None  # a second factor's last use in this session (step-up)


def start(
    session: Session,
    *,
    user: StaffUser,
    now: datetime,
    settings: Settings,
    factor_at: datetime | None = None,
) -> str:
    """Open a console session for an account that has just proved its password (and, at
    `factor_at`, its second factor); returns the cookie's secret, which is never stored."""
    secret = secrets.new_secret()
    session.add(
        ConsoleSession(
            user_id=user.id,
            token_digest=secrets.digest(secret),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.console_session_max_s),
            factor_at=factor_at,
        )
    )
    return secret


def stepped_up(session: Session, *, session_id: uuid.UUID, now: datetime) -> None:
    """Record a second factor used in the session just now (a step-up)."""
    stored = session.get(ConsoleSession, session_id)
    if stored is not None:
        stored.factor_at = now
        session.add(stored)


def resolve(session: Session, *, secret: str, now: datetime, settings: Settings) -> SignedIn | None:
    """The live session a cookie names, or None: unknown, ended, idle too long, past its end,
    or its account disabled or its sessions revoked since it began."""
    if not secret or len(secret) > 128:
        return None
    stored = session.exec(
        select(ConsoleSession).where(col(ConsoleSession.token_digest) == secrets.digest(secret))
    ).first()
    if stored is None or not secrets.matches(secret, stored.token_digest):
        return None
    idle_limit = stored.last_seen_at + timedelta(seconds=settings.console_session_idle_s)
    if stored.revoked_at is not None or stored.expires_at <= now or idle_limit <= now:
        return None
    user = auth_repository.get_user(session, stored.user_id)
    if user is None or user.disabled_at is not None:
        return None
    if stored.created_at < user.sessions_valid_after:
        return None
    enrolled = not factors.required_of(user, settings) or auth_repository.has_confirmed_factor(
        session, user.id
    )
    return SignedIn(
        session_id=stored.id,
        user=user,
        last_seen_at=stored.last_seen_at,
        factor_enrolled=enrolled,
        factor_at=stored.factor_at,
    )


def touch(session: Session, *, session_id: uuid.UUID, now: datetime) -> None:
    """Record a request, so the idle limit counts from now."""
    session.execute(
        update(ConsoleSession).where(col(ConsoleSession.id) == session_id).values(last_seen_at=now)
    )


def end(session: Session, *, session_id: uuid.UUID, actor: Actor, now: datetime) -> None:
    """Sign out: the session can never be used again."""
    stored = session.get(ConsoleSession, session_id)
    if stored is None or stored.revoked_at is not None:
        return
    stored.revoked_at = now
    session.add(stored)
    record(
        session,
        actor=actor,
        action="auth.logout",
        now=now,
        target_type="staff_user",
        target_id=stored.user_id,
        detail={"via": "console"},
    )


def revoke_all(session: Session, *, user_id: uuid.UUID, now: datetime) -> None:
    """End every console session of an account (after a password change)."""
    session.execute(
        update(ConsoleSession)
        .where(col(ConsoleSession.user_id) == user_id, col(ConsoleSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def purge_expired(session: Session, *, now: datetime) -> int:
    """Delete sessions that ended more than a day ago."""
    result = session.execute(
        delete(ConsoleSession).where(col(ConsoleSession.expires_at) < now - timedelta(days=1))
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _mac(key: bytes, message: bytes) -> str:
    mac = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def csrf_token(key: bytes, session_id: uuid.UUID) -> str:
    """The CSRF token every form and htmx request of this session must carry."""
    return _mac(key, b"session:" + session_id.bytes)


def login_csrf_token(key: bytes, nonce: str) -> str:
    """The CSRF token of the sign-in form, bound to a nonce in a cookie (before any session)."""
    return _mac(key, b"login:" + nonce.encode("utf-8"))


def tokens_match(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
