"""Second factors: an authenticator app's six-digit codes (TOTP, RFC 6238) and ten recovery
codes for a lost phone.

The shared secret is made here, wrapped under the server master key and bound to the account,
and is shown only while the factor is being set up; it is confirmed by a current code. A code
is accepted for the current 30-second step or one step either side (clock drift, RFC 6238
§5.2), and never twice: the last step used is remembered. Recovery codes are stored as digests
and each works once. Services never commit."""

from __future__ import annotations

import hmac
import secrets as random
import uuid
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.auth import repository
from mdm_server.auth.models import RecoveryCode, SecondFactor, StaffUser
from mdm_server.auth.roles import Role
from mdm_server.config import Settings
from mdm_server.crypto import secrets
from mdm_server.crypto.master import MasterKey
from mdm_server.errors import ConflictError, InvalidRequestError, NotFoundError

ISSUER = "Tabard"
STEP_S = 30
DIGITS = 6
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
RECOVERY_GROUPS = 4  # four groups of four: about 79 bits
SECRET_BYTES = 20  # 160 bits, as RFC 4226 §4 recommends
MANDATORY_ROLES: frozenset[str] = frozenset({Role.it_admin, Role.auditor})


def required_for(role: str, settings: Settings) -> bool:
    """Whether accounts of this role may do nothing until they have a second factor: IT
    administrators and auditors, once TABARD_SECOND_FACTOR_REQUIRED is on."""
    return settings.second_factor_required and role in MANDATORY_ROLES


def required_of(user: StaffUser, settings: Settings) -> bool:
    """Whether this account must set up a Tabard second factor: never one the force's
    OpenID provider signs in, as the provider's own multi-factor authentication governs it."""
    return not user.single_sign_on and required_for(user.role, settings)


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, for typing into an app that cannot scan
    otpauth_uri: str


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of a code: `kind` is `totp` or `recovery` when accepted, else None and
    `reason` says why (for the audit log, never for the person: they hear only 'wrong code')."""

    kind: str | None
    reason: str | None = None
    passkey: str | None = None  # the name of the passkey used


def binding(user_id: uuid.UUID) -> bytes:
    """What a second factor's wrapped secret is bound to: its account."""
    return b"tabard second factor " + user_id.bytes


def _secret(factor: SecondFactor, keys: MasterKey) -> str:
    return keys.unwrap(factor.secret_wrapped, bound_to=binding(factor.user_id)).decode("ascii")


def otpauth_uri(secret: str, username: str) -> str:
    """The `otpauth://totp/...` URI an authenticator app scans (Key Uri Format)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).provisioning_uri(
        name=username, issuer_name=ISSUER
    )


def begin_enrolment(
    session: Session, *, user: StaffUser, keys: MasterKey, actor: Actor, now: datetime
) -> Enrolment:
    """A new secret for the account, pending until a code from it is typed. Starting again
    replaces a pending secret; an account with a working factor must remove it first."""
    factor = repository.get_factor(session, user.id, for_update=True)
    if factor is not None and factor.confirmed_at is not None:
        raise ConflictError(
            "you already have a second factor; remove it first (with a current code) to set "
            "up another",
            code="second_factor_exists",
        )
    secret = pyotp.random_base32(length=SECRET_BYTES * 8 // 5)
    wrapped = keys.wrap(secret.encode("ascii"), bound_to=binding(user.id))
    if factor is None:
        factor = SecondFactor(user_id=user.id, secret_wrapped=wrapped, created_at=now)
    factor.secret_wrapped, factor.created_at = wrapped, now
    session.add(factor)
    audit_account(session, actor, "auth.second_factor_enrolment_started", user, now)
    return Enrolment(secret=secret, otpauth_uri=otpauth_uri(secret, user.username))


def pending_enrolment(session: Session, *, user: StaffUser, keys: MasterKey) -> Enrolment:
    """The secret being set up, to show again (as a QR code) until it is confirmed; never
    after."""
    factor = repository.get_factor(session, user.id)
    if factor is None or factor.confirmed_at is not None:
        raise NotFoundError(
            "no second factor is being set up; start with POST /api/v1/auth/mfa/enrol",
            code="no_pending_enrolment",
        )
    secret = _secret(factor, keys)
    return Enrolment(secret=secret, otpauth_uri=otpauth_uri(secret, user.username))


def confirm_enrolment(
    session: Session, *, user: StaffUser, code: str, keys: MasterKey, actor: Actor, now: datetime
) -> list[str]:
    """Complete the set-up with a current code; the recovery codes, shown this once."""
    factor = repository.get_factor(session, user.id, for_update=True)
    if factor is None or factor.confirmed_at is not None:
        raise ConflictError(
            "no second factor is being set up; start with POST /api/v1/auth/mfa/enrol",
            code="no_pending_enrolment",
        )
    step = matching_step(_secret(factor, keys), code, now=now)
    if step is None:
        audit_account(
            session, actor, "auth.second_factor_failed", user, now, reason="enrolment_code"
        )
        raise InvalidRequestError(
            "that is not the code your app shows now: check the phone's clock is right and "
            "type the six digits it shows",
            code="invalid_code",
            keep_changes=True,
        )
    factor.confirmed_at, factor.last_used_step, factor.last_used_at = now, step, now
    session.add(factor)
    codes = _new_recovery_codes(session, user_id=user.id, now=now)
    audit_account(session, actor, "auth.second_factor_enrolled", user, now)
    return codes


def matching_step(secret: str, code: str, *, now: datetime) -> int | None:
    """The 30-second step `code` belongs to, within one step of now; None if none. Every
    candidate is compared, in constant time."""
    typed = "".join(code.split())
    if len(typed) != DIGITS or not typed.isascii() or not typed.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S)
    current = int(now.timestamp()) // STEP_S
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), typed):
            found = step
    return found


def check_code(
    session: Session, *, user: StaffUser, code: str, keys: MasterKey, now: datetime
) -> CodeCheck:
    """Spend a code from the account's app or one of its recovery codes."""
    factor = repository.get_factor(session, user.id, for_update=True)
    if factor is None or factor.confirmed_at is None:
        return CodeCheck(None, "no_factor")
    typed = "".join(code.split())
    if typed.isdigit():
        step = matching_step(_secret(factor, keys), typed, now=now)
        if step is None:
            return CodeCheck(None, "wrong_code")
        if factor.last_used_step is not None and step <= factor.last_used_step:
            return CodeCheck(None, "replayed_code")
        factor.last_used_step, factor.last_used_at = step, now
        session.add(factor)
        return CodeCheck("totp")
    stored = repository.get_unused_recovery_code(
        session, user.id, secrets.digest(_normalise_recovery(typed))
    )
    if stored is None:
        return CodeCheck(None, "wrong_recovery_code")
    stored.used_at = now
    factor.last_used_at = now
    session.add_all([stored, factor])
    return CodeCheck("recovery")


def remove(session: Session, *, user: StaffUser, actor: Actor, now: datetime, reason: str) -> None:
    """Remove the account's factor and its recovery codes (audited with `reason`)."""
    if repository.get_factor(session, user.id) is None:
        raise NotFoundError(f"{user.username} has no second factor", code="no_second_factor")
    repository.delete_factor(session, user.id)
    audit_account(session, actor, "auth.second_factor_removed", user, now, reason=reason)


def _new_recovery_codes(session: Session, *, user_id: uuid.UUID, now: datetime) -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        groups = [
            "".join(random.choice(RECOVERY_ALPHABET) for _ in range(4))
            for _ in range(RECOVERY_GROUPS)
        ]
        code = "-".join(groups)
        codes.append(code)
        digest = secrets.digest(_normalise_recovery(code))
        session.add(RecoveryCode(user_id=user_id, code_digest=digest, created_at=now))
    return codes


def _normalise_recovery(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def audit_account(
    session: Session, actor: Actor, action: str, user: StaffUser, now: datetime, **detail: object
) -> None:
    """An audit event about a staff account (its factors, its sign-ins), naming the account."""
    record(
        session,
        actor=actor,
        action=action,
        now=now,
        target_type="staff_user",
        target_id=user.id,
        detail={"username": user.username, **detail},
    )
