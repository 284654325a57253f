"""Officers' secure-side PINs: Argon2id hashes (RFC 9106), wrong attempts counted, a lockout
after the policy's limit. IT sets the first PIN; the officer must change it at first entry;
IT can clear a lockout. Never commits; PINs never reach a log or an audit event."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.auth import repository as staff_repository
from mdm_server.auth.models import StaffUser
from mdm_server.auth.roles import Role
from mdm_server.crypto.passwords import PasswordHasher
from mdm_server.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableError,
)
from mdm_server.secure import repository
from mdm_server.secure.models import OfficerPin

PIN_MIN_LENGTH = 6
PIN_MAX_LENGTH = 12


@dataclass(frozen=True)
class PinLimits:
    max_failed_attempts: int
    lockout: timedelta


def check_pin_rules(pin: str) -> None:
    """6 to 12 digits, not one digit repeated, not a run such as 123456 or 987654."""
    if not pin.isascii() or not pin.isdigit():
        raise UnprocessableError("a PIN is digits only", code="weak_pin")
    if not PIN_MIN_LENGTH <= len(pin) <= PIN_MAX_LENGTH:
        raise UnprocessableError(
            f"a PIN has {PIN_MIN_LENGTH} to {PIN_MAX_LENGTH} digits", code="weak_pin"
        )
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    if steps in ({0}, {1}, {9}):
        raise UnprocessableError(
            "a PIN may not be one digit repeated or a run of consecutive digits", code="weak_pin"
        )


def officer_for_pin(session: Session, collar_number: str) -> StaffUser:
    officer = staff_repository.get_user_by_collar(session, collar_number)
    if officer is None or officer.role != Role.officer:
        raise NotFoundError(
            f"no officer with collar number {collar_number}", code="officer_not_found"
        )
    return officer


def set_pin(
    session: Session,
    *,
    officer: StaffUser,
    pin: str,
    passwords: PasswordHasher,
    actor: Actor,
    now: datetime,
) -> OfficerPin:
    """IT sets an officer's PIN: it must be changed at first entry; any lockout is cleared."""
    check_pin_rules(pin)
    stored = repository.pin_of(session, officer.id, for_update=True)
    if stored is None:
        stored = OfficerPin(user_id=officer.id, pin_hash="", set_at=now)
    stored.pin_hash = passwords.hash(pin)
    stored.must_change = True
    stored.failed_attempts = 0
    stored.locked_until = None
    stored.set_at = now
    session.add(stored)
    record(
        session,
        actor=actor,
        action="secure.pin_set",
        now=now,
        target_type="staff_user",
        target_id=officer.id,
        detail={"collar_number": officer.collar_number},
    )
    return stored


def clear_lockout(
    session: Session, *, officer: StaffUser, actor: Actor, now: datetime
) -> OfficerPin:
    """IT clears an officer's PIN lockout and wrong-attempt count."""
    stored = repository.pin_of(session, officer.id, for_update=True)
    if stored is None:
        raise NotFoundError(
            f"officer {officer.collar_number} has no PIN; set one with `tabard users set-pin`",
            code="pin_not_set",
        )
    was_locked = stored.locked_until is not None and stored.locked_until > now
    stored.failed_attempts = 0
    stored.locked_until = None
    session.add(stored)
    record(
        session,
        actor=actor,
        action="secure.pin_lockout_cleared",
        now=now,
        target_type="staff_user",
        target_id=officer.id,
        detail={"collar_number": officer.collar_number, "was_locked": was_locked},
    )
    return stored


def verify_pin(
    session: Session,
    *,
    officer: StaffUser,
    pin: str,
    passwords: PasswordHasher,
    limits: PinLimits,
    actor: Actor,
    now: datetime,
) -> OfficerPin:
    """Check the officer's PIN, counting a wrong one; refuses while locked out. A refusal keeps
    its changes (the count, the lockout, the audit event) though the request fails."""
    stored = repository.pin_of(session, officer.id, for_update=True)
    if stored is None:
        passwords.verify(None, pin)  # the same time as a wrong PIN
        raise PermissionDeniedError(
            f"officer {officer.collar_number} has no secure-side PIN yet; IT sets one with "
            "`tabard users set-pin`",
            code="pin_not_set",
        )
    if stored.locked_until is not None and stored.locked_until > now:
        raise PermissionDeniedError(
            {
                "message": "too many wrong PINs; try again later or ask IT to clear the lockout",
                "locked_until": stored.locked_until.isoformat(),
            },
            code="pin_locked_out",
        )
    if passwords.verify(stored.pin_hash, pin):
        if stored.failed_attempts or stored.locked_until is not None:
            stored.failed_attempts = 0
            stored.locked_until = None
            session.add(stored)
        return stored
    stored.failed_attempts += 1
    remaining = max(limits.max_failed_attempts - stored.failed_attempts, 0)
    locked = remaining == 0
    if locked:
        stored.locked_until = now + limits.lockout
        stored.failed_attempts = 0
    session.add(stored)
    record(
        session,
        actor=actor,
        action="secure.pin_locked_out" if locked else "secure.pin_wrong",
        now=now,
        target_type="staff_user",
        target_id=officer.id,
        detail={
            "collar_number": officer.collar_number,
            "attempts_remaining": remaining,
            "locked_until": stored.locked_until.isoformat()
            if locked and stored.locked_until
            else None,
        },
    )
    if locked:
        assert stored.locked_until is not None
        raise PermissionDeniedError(
            {
                "message": "too many wrong PINs; the PIN is locked out",
                "locked_until": stored.locked_until.isoformat(),
            },
            code="pin_locked_out",
            keep_changes=True,
        )
    raise AuthenticationError(
        {"message": "wrong collar number or PIN", "attempts_remaining": remaining},
        code="invalid_pin",
        keep_changes=True,
    )


def check_new_pin(new_pin: str, *, current_pin: str) -> None:
    """A new PIN must keep the rules and differ from the current one; refused otherwise."""
    check_pin_rules(new_pin)
    if new_pin == current_pin:
        raise InvalidRequestError("the new PIN must differ from the current one", code="weak_pin")


def change_pin(
    session: Session,
    *,
    stored: OfficerPin,
    officer: StaffUser,
    new_pin: str,
    current_pin: str,
    passwords: PasswordHasher,
    actor: Actor,
    now: datetime,
) -> None:
    """The officer replaces their PIN (required at first entry after IT set it)."""
    check_new_pin(new_pin, current_pin=current_pin)
    stored.pin_hash = passwords.hash(new_pin)
    stored.must_change = False
    stored.set_at = now
    session.add(stored)
    record(
        session,
        actor=actor,
        action="secure.pin_changed",
        now=now,
        target_type="staff_user",
        target_id=stored.user_id,
        detail={"collar_number": officer.collar_number},
    )
