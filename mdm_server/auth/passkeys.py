"""Passkeys (WebAuthn, W3C Web Authentication Level 3) as a second factor for staff.

The protocol work is python-fido2's (`Fido2Server`); Tabard holds the rules around it:
- The relying party id is the host of TABARD_PUBLIC_URL and the only origin accepted is that
  URL's own (scheme, host and port, exactly): an answer made for any other origin, a look-alike
  or a relay, is refused (§13.4.9, §7.2 step 9).
- Each challenge is a ceremony row bound to one account and one purpose, good for
  CEREMONY_TTL and deleted as its answer is read, right or wrong, so no answer is accepted twice.
- User verification is preferred, not required: a security key without a PIN still proves
  possession, which is what a second factor after the password is for.
- The signature counter must rise whenever the authenticator keeps one (§6.1.1); a counter
  that does not rise means a cloned authenticator and the passkey is refused.
- Attestation is not asked for (`none`): the force trusts the person who registers it, signed
  in with their password and, if they have one, a second factor.

Services never commit."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import urlsplit

from fido2.server import Fido2Server
from fido2.utils import websafe_encode
from fido2.webauthn import (
    AttestationConveyancePreference,
    AttestedCredentialData,
    AuthenticationResponse,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    RegistrationResponse,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from sqlmodel import Session

from mdm_server.audit.service import Actor
from mdm_server.auth import factors, repository
from mdm_server.auth.factors import CodeCheck
from mdm_server.auth.models import Passkey, PasskeyCeremony, StaffUser
from mdm_server.config import Settings
from mdm_server.errors import ConflictError, InvalidRequestError, NotFoundError

CEREMONY_TTL = timedelta(minutes=5)
CHALLENGE_BYTES = 32
MAX_PASSKEYS = 10
REGISTER, SIGN_IN, STEP_UP = "register", "sign_in", "step_up"
RP_NAME = "Tabard"
UV = UserVerificationRequirement.PREFERRED


@dataclass(frozen=True)
class RelyingParty:
    """Who passkeys are made for: the public URL's host, and its origin as browsers say it."""

    id: str
    origin: str

    @classmethod
    def of(cls, settings: Settings) -> RelyingParty:
        parts = urlsplit(settings.public_url)
        return cls(id=parts.hostname or "", origin=f"{parts.scheme}://{parts.netloc}".lower())

    @property
    def usable(self) -> bool:
        """Browsers make passkeys for host names only, never for an IP address."""
        host = self.id
        return bool(host) and not host.replace(".", "").isdigit() and ":" not in host


@dataclass(frozen=True)
class Ceremony:
    """A challenge handed out: its id, to send back with the answer, and the options for
    navigator.credentials.create() or .get(), in the JSON form browsers parse
    (PublicKeyCredential.parseCreationOptionsFromJSON and parseRequestOptionsFromJSON)."""

    id: uuid.UUID
    public_key: dict[str, Any]
    expires_at: datetime


def _server(settings: Settings) -> Fido2Server:
    rp = RelyingParty.of(settings)
    return Fido2Server(
        PublicKeyCredentialRpEntity(name=RP_NAME, id=rp.id),
        attestation=AttestationConveyancePreference.NONE,
        verify_origin=lambda origin: origin == rp.origin,
    )


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    data = AttestedCredentialData(passkey.credential_data)
    return PublicKeyCredentialDescriptor(
        type=PublicKeyCredentialType.PUBLIC_KEY, id=data.credential_id
    )


def _new_ceremony(
    session: Session, *, user: StaffUser, purpose: str, now: datetime
) -> PasskeyCeremony:
    repository.delete_expired_ceremonies(session, before=now, user_id=user.id)
    ceremony = PasskeyCeremony(
        user_id=user.id,
        purpose=purpose,
        challenge=os.urandom(CHALLENGE_BYTES),
        created_at=now,
        expires_at=now + CEREMONY_TTL,
    )
    session.add(ceremony)
    return ceremony


def begin_registration(
    session: Session, *, user: StaffUser, settings: Settings, now: datetime
) -> Ceremony:
    """A challenge for a new passkey; the account's passkeys are excluded, so one
    authenticator does not register twice."""
    _usable(settings)
    existing = repository.list_passkeys(session, user.id)
    if len(existing) >= MAX_PASSKEYS:
        raise ConflictError(
            f"you have {MAX_PASSKEYS} passkeys, the most an account may have: remove one you "
            "no longer use first",
            code="too_many_passkeys",
        )
    ceremony = _new_ceremony(session, user=user, purpose=REGISTER, now=now)
    options, _ = _server(settings).register_begin(
        PublicKeyCredentialUserEntity(
            id=user.id.bytes, name=user.username, display_name=user.display_name or user.username
        ),
        credentials=[_descriptor(passkey) for passkey in existing],
        resident_key_requirement=ResidentKeyRequirement.PREFERRED,
        user_verification=UV,
        challenge=ceremony.challenge,
    )
    return Ceremony(ceremony.id, dict(options)["publicKey"], ceremony.expires_at)


def begin_assertion(
    session: Session, *, user: StaffUser, purpose: str, settings: Settings, now: datetime
) -> Ceremony:
    """A challenge to sign with one of the account's passkeys (signing in or stepping up)."""
    _usable(settings)
    passkeys = repository.list_passkeys(session, user.id)
    if not passkeys:
        raise NotFoundError(
            "you have no passkey: use the code from your authenticator app instead",
            code="no_passkey",
        )
    ceremony = _new_ceremony(session, user=user, purpose=purpose, now=now)
    options, _ = _server(settings).authenticate_begin(
        [_descriptor(passkey) for passkey in passkeys],
        user_verification=UV,
        challenge=ceremony.challenge,
    )
    return Ceremony(ceremony.id, dict(options)["publicKey"], ceremony.expires_at)


def _take(
    session: Session, *, ceremony_id: uuid.UUID, user_id: uuid.UUID, purpose: str, now: datetime
) -> PasskeyCeremony | None:
    """The ceremony if it is this account's, for this purpose and still current; spent either
    way."""
    ceremony = repository.take_ceremony(session, ceremony_id)
    if ceremony is None or ceremony.user_id != user_id or ceremony.purpose != purpose:
        return None
    if ceremony.expires_at <= now:
        return None
    return ceremony


def _state(ceremony: PasskeyCeremony) -> dict[str, Any]:
    return {"challenge": websafe_encode(ceremony.challenge), "user_verification": UV}


def finish_registration(
    session: Session,
    *,
    user: StaffUser,
    ceremony_id: uuid.UUID,
    name: str,
    credential: Mapping[str, Any],
    settings: Settings,
    actor: Actor,
    now: datetime,
) -> Passkey:
    """Check the authenticator's answer to a registration challenge and keep the passkey
    under `name`. A refusal keeps only its audit event and the spent challenge."""
    name = " ".join(name.split())
    if not name:
        raise InvalidRequestError("give the passkey a name you will know it by", code="bad_name")
    ceremony = _take(session, ceremony_id=ceremony_id, user_id=user.id, purpose=REGISTER, now=now)
    if ceremony is None:
        _refuse_registration(session, actor, user, now, "unknown_challenge")
    assert ceremony is not None
    try:
        response = RegistrationResponse.from_dict(credential)
    except Exception:  # any malformed answer is the same 400
        _refuse_registration(session, actor, user, now, "malformed")
    try:
        auth_data = _server(settings).register_complete(_state(ceremony), response)
    except ValueError as refused:
        _refuse_registration(session, actor, user, now, _reason(refused))
    data = auth_data.credential_data
    assert data is not None
    credential_id = websafe_encode(data.credential_id)
    if repository.get_passkey_by_credential(session, credential_id) is not None:
        _refuse_registration(session, actor, user, now, "already_registered")
    if any(passkey.name == name for passkey in repository.list_passkeys(session, user.id)):
        raise InvalidRequestError(
            f"you already have a passkey called “{name}”: choose another name",
            code="passkey_name_taken",
            keep_changes=True,
        )
    passkey = Passkey(
        user_id=user.id,
        name=name,
        credential_id=credential_id,
        credential_data=bytes(data),
        sign_count=auth_data.counter,
        created_at=now,
    )
    session.add(passkey)
    factors.audit_account(
        session, actor, "auth.second_factor_enrolled", user, now, kind="passkey", passkey=name
    )
    return passkey


def check_assertion(
    session: Session,
    *,
    user: StaffUser,
    ceremony_id: uuid.UUID,
    purpose: str,
    credential: Mapping[str, Any],
    settings: Settings,
    now: datetime,
) -> CodeCheck:
    """Check an answer signed by one of the account's passkeys, as `factors.check_code`
    checks a code: `kind` `passkey` when it is good, else the reason (for the audit log)."""
    ceremony = _take(session, ceremony_id=ceremony_id, user_id=user.id, purpose=purpose, now=now)
    if ceremony is None:
        return CodeCheck(None, "unknown_challenge")
    try:
        response = AuthenticationResponse.from_dict(credential)
    except Exception:  # any malformed answer is the same refusal
        return CodeCheck(None, "malformed")
    passkey = repository.get_passkey_by_credential(session, websafe_encode(response.raw_id))
    if passkey is None or passkey.user_id != user.id:
        return CodeCheck(None, "unknown_passkey" if passkey is None else "another_users_passkey")
    stored = AttestedCredentialData(passkey.credential_data)
    try:
        _server(settings).authenticate_complete(_state(ceremony), [stored], response)
    except ValueError as refused:
        return CodeCheck(None, _reason(refused))
    counter = response.response.authenticator_data.counter
    if (counter or passkey.sign_count) and counter <= passkey.sign_count:
        return CodeCheck(None, "sign_count_did_not_rise")
    passkey.sign_count, passkey.last_used_at = counter, now
    session.add(passkey)
    return CodeCheck("passkey", passkey=passkey.name)


def remove(
    session: Session, *, user: StaffUser, passkey_id: uuid.UUID, actor: Actor, now: datetime
) -> None:
    """Remove one of the account's own passkeys (audited)."""
    passkey = repository.get_passkey(session, passkey_id, for_update=True)
    if passkey is None or passkey.user_id != user.id:
        raise NotFoundError("you have no such passkey", code="no_such_passkey")
    session.delete(passkey)
    factors.audit_account(
        session,
        actor,
        "auth.second_factor_removed",
        user,
        now,
        kind="passkey",
        passkey=passkey.name,
        reason="own",
    )


def remove_all(
    session: Session, *, user: StaffUser, actor: Actor, now: datetime, reason: str
) -> int:
    """Remove every passkey of the account (IT, for someone who lost them); how many."""
    names = [passkey.name for passkey in repository.list_passkeys(session, user.id)]
    if names:
        repository.delete_passkeys(session, user.id)
        factors.audit_account(
            session,
            actor,
            "auth.second_factor_removed",
            user,
            now,
            kind="passkey",
            passkeys=", ".join(names),
            reason=reason,
        )
    return len(names)


def purge_expired_ceremonies(session: Session, *, now: datetime) -> int:
    """Forget challenges nobody answered."""
    return repository.delete_expired_ceremonies(session, before=now)


def _usable(settings: Settings) -> None:
    rp = RelyingParty.of(settings)
    if not rp.usable:
        raise ConflictError(
            f"passkeys need the server reached by a host name, and TABARD_PUBLIC_URL is "
            f"{settings.public_url}: browsers make no passkeys for an IP address",
            code="passkeys_unavailable",
        )


def _reason(refused: ValueError) -> str:
    """fido2's refusal as a short code for the audit log."""
    words = str(refused).lower()
    for needle, reason in (
        ("origin", "wrong_origin"),
        ("challenge", "wrong_challenge"),
        ("rp id", "wrong_relying_party"),
        ("signature", "bad_signature"),
        ("type", "wrong_type"),
        ("present", "user_not_present"),
        ("unknown credential", "unknown_passkey"),
    ):
        if needle in words:
            return reason
    return "refused"


REGISTRATION_REFUSED = {
    "unknown_challenge": "that passkey challenge is not yours, was used already or has "
    "expired: start again",
    "already_registered": "that passkey is registered already",
    "malformed": "that is not a WebAuthn registration response (navigator.credentials.create)",
}


def _refuse_registration(
    session: Session, actor: Actor, user: StaffUser, now: datetime, reason: str
) -> NoReturn:
    factors.audit_account(
        session, actor, "auth.second_factor_failed", user, now, kind="passkey", reason=reason
    )
    said = reason.replace("_", " ")
    message = REGISTRATION_REFUSED.get(
        reason, f"the passkey's answer did not check out ({said}): start again"
    )
    code = "passkey_exists" if reason == "already_registered" else "passkey_refused"
    raise InvalidRequestError(message, code=code, keep_changes=True)
