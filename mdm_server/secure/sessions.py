"""A secure session's life after the gate opened it: each request proves it is still open
(its token, this device, not ended, not idle, not past its length), and the device ends it
when the secure side is left or locked. Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlmodel import Session

from mdm_server.audit.service import record
from mdm_server.auth import repository as staff_repository
from mdm_server.crypto.secrets import digest
from mdm_server.deps import DevicePrincipal
from mdm_server.errors import AuthenticationError, NotFoundError
from mdm_server.secure import repository
from mdm_server.secure.models import SecureSession

TOKEN_PREFIX = "tss_"  # noqa: S105 (a prefix that marks the kind of token, not a secret)
SESSION_HEADER = "X-Tabard-Session"


def current_session(
    session: Session, *, token: str | None, caller: DevicePrincipal, now: datetime
) -> SecureSession:
    """The open secure session `token` names on this device, its activity clock advanced; 401
    if the token is missing, unknown, another device's, ended, past its end or idle too long."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        raise AuthenticationError(
            f"send the secure session token in {SESSION_HEADER}; enter the secure side first",
            code="invalid_session",
        )
    secure = repository.session_by_digest(session, digest(token), for_update=True)
    if secure is None or secure.device_id != caller.device.id:
        raise AuthenticationError("secure session token not recognised", code="invalid_session")
    if secure.ended_at is not None:
        raise AuthenticationError(
            f"this secure session ended ({secure.end_reason}); enter the secure side again",
            code="session_ended",
        )
    idle_until = secure.last_activity_at + timedelta(seconds=secure.inactivity_s)
    if now >= secure.expires_at or now >= idle_until:
        reason = "max_length" if now >= secure.expires_at else "inactivity"
        secure.ended_at, secure.end_reason = now, reason
        session.add(secure)
        raise AuthenticationError(
            f"this secure session has ended ({reason}); enter the secure side again",
            code="session_ended",
            keep_changes=True,
        )
    secure.last_activity_at = now
    session.add(secure)
    return secure


def end_session(
    session: Session,
    *,
    caller: DevicePrincipal,
    session_id: uuid.UUID,
    reason: str,
    now: datetime,
) -> SecureSession:
    """The device ends one of its secure sessions (leave, lock, inactivity); ending an ended
    session changes nothing."""
    secure = repository.get_session(session, session_id, for_update=True)
    if secure is None or secure.device_id != caller.device.id:
        raise NotFoundError(
            f"no secure session {session_id} on this device", code="session_not_found"
        )
    if secure.ended_at is not None:
        return secure
    secure.ended_at, secure.end_reason = now, reason
    session.add(secure)
    officer = staff_repository.get_user(session, secure.officer_id)
    record(
        session,
        actor=caller.actor,
        action="secure.session_ended",
        now=now,
        target_type="device",
        target_id=caller.device.id,
        detail={
            "session_id": str(secure.id),
            "reason": reason,
            # found under the officer's collar number, as the session's opening is
            "collar_number": officer.collar_number if officer is not None else None,
        },
    )
    return secure
