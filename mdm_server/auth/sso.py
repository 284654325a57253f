"""Rules for signing in through the force's OpenID provider: which Tabard role a person's
groups give them, their account made on first sign-in (linked by issuer and subject), kept
in step with the provider, and refused when the provider no longer places them.

Deny by default: a person whose groups give no Tabard role, or two, gets no access and no
account. Services never commit; the caller's unit of work does."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.auth import factors, repository
from mdm_server.auth.models import StaffUser
from mdm_server.auth.oidc import CLOCK_SKEW, IdClaims, IdTokenError
from mdm_server.auth.roles import Role, role_name, roles_in_words
from mdm_server.auth.service import staff_actor
from mdm_server.config import Settings
from mdm_server.crypto.master import MasterKey
from mdm_server.errors import AuthenticationError, PermissionDeniedError

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


class NoTabardRoleError(PermissionDeniedError):
    """The provider signed the person in, but their groups give them no Tabard role (or
    more than one)."""

    code = "no_tabard_role"


def roles_for(claims: dict[str, Any], settings: Settings) -> set[str]:
    """The Tabard roles the configured claim's values map to (a string or a list of them)."""
    values = claims.get(settings.oidc_role_claim)
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        return set()
    return {
        settings.oidc_role_map[v]
        for v in values
        if isinstance(v, str) and v in settings.oidc_role_map
    }


def signed_in_at(id_token: IdClaims, *, settings: Settings, now: datetime) -> datetime | None:
    """When the provider last had the person sign in (`auth_time`), which Tabard counts as
    their second factor's use, as a code's or a passkey's; None when the token does not say,
    says a time ahead of the clock, or, with TABARD_OIDC_STEP_UP_ACR set, names another
    authentication context (`acr`), so that such a sign-in steps nobody up."""
    when = id_token.claims.get("auth_time")
    if not isinstance(when, int) or isinstance(when, bool):
        return None
    wanted = settings.oidc_step_up_acr
    if wanted is not None and id_token.claims.get("acr") != wanted:
        return None
    at = datetime.fromtimestamp(when, tz=now.tzinfo)
    return None if at > now + CLOCK_SKEW else at


def fresh_sign_in_at(id_token: IdClaims, *, settings: Settings, now: datetime) -> datetime:
    """`signed_in_at` for a sign-in made to step up: refused unless the provider asked the
    person again within the step-up window (and, when one is set, at the `acr` asked for)."""
    at = signed_in_at(id_token, settings=settings, now=now)
    if at is None and settings.oidc_step_up_acr is not None and "auth_time" in id_token.claims:
        raise AuthenticationError(
            "the force's sign-in did not confirm it is you as strongly as Tabard asks "
            f"({settings.oidc_step_up_acr}): try again, with the method it offers for that",
            code="step_up_refused",
        )
    if at is None or now - at > timedelta(seconds=settings.step_up_max_age_s):
        raise AuthenticationError(
            "the force's sign-in did not ask you again: sign in there once more",
            code="step_up_refused",
        )
    return at


def sign_in(
    session: Session,
    *,
    id_token: IdClaims,
    actor: Actor,
    now: datetime,
    settings: Settings,
    via: str,
    refresh_wrapped: bytes | None = None,
) -> StaffUser:
    """The account of the person a validated ID token names, made on first sign-in; refused
    for a replayed token, a disabled account, or groups that give no single role. A person the
    mapping no longer places loses their account's access there and then (disabled, sessions
    ended, audited), as the provider has said they are gone from Tabard's groups."""
    if not repository.remember_id_token(
        session, token_digest=id_token.token_digest, expires_at=id_token.expires_at
    ):
        _audit_refusal(session, actor, now, id_token, reason="replayed_id_token", via=via)
        raise IdTokenError("this ID token was used already: sign in again", keep_changes=True)
    user = repository.get_user_by_subject(
        session, issuer=id_token.issuer, subject=id_token.subject, for_update=True
    )
    roles = roles_for(id_token.claims, settings)
    if len(roles) != 1:
        if user is not None and user.disabled_at is None:
            _disable(session, user, now=now, actor=actor, via=via)
        _audit_refusal(
            session,
            actor,
            now,
            id_token,
            reason="no_role" if not roles else "several_roles",
            via=via,
            user=user,
        )
        raise NoTabardRoleError(_no_role_message(roles), keep_changes=True)
    (role,) = roles
    if user is None:
        user = _create(
            session,
            id_token=id_token,
            role=role,
            actor=actor,
            now=now,
            via=via,
            settings=settings,
        )
    elif user.disabled_at is not None:
        _audit_refusal(session, actor, now, id_token, reason="disabled", via=via, user=user)
        raise AuthenticationError(
            "your Tabard account is disabled: ask IT to enable it",
            code="account_disabled",
            keep_changes=True,
        )
    else:
        _follow_provider(session, user, id_token=id_token, role=role, actor=actor, now=now)
    user.last_login_at = now
    if refresh_wrapped is not None:
        user.oidc_refresh_wrapped = refresh_wrapped
    session.add(user)
    record(
        session,
        actor=staff_actor(user, source_ip=actor.source_ip, request_id=actor.request_id),
        action="auth.login",
        now=now,
        target_type="staff_user",
        target_id=user.id,
        detail={"via": via, "method": "sso"},
    )
    return user


def bound(issuer: str, subject: str) -> bytes:
    """What a refresh token's wrapped copy is bound to: the person at their provider."""
    return f"oidc-refresh:{issuer} {subject}".encode()


def wrap_refresh(keys: MasterKey, *, id_token: IdClaims, refresh_token: str | None) -> bytes | None:
    """The provider's refresh token for the person, wrapped under the master key and bound to
    them, so that it is of no use to anyone reading the database."""
    if refresh_token is None:
        return None
    return keys.wrap(refresh_token.encode(), bound_to=bound(id_token.issuer, id_token.subject))


def unwrap_refresh(keys: MasterKey, user: StaffUser) -> str:
    """The provider's refresh token for a single sign-on account that holds one."""
    wrapped, issuer, subject = user.oidc_refresh_wrapped, user.oidc_issuer, user.oidc_subject
    if wrapped is None or issuer is None or subject is None:
        raise ValueError("not a single sign-on account holding a refresh token")
    return keys.unwrap(wrapped, bound_to=bound(issuer, subject)).decode()


def gone_at_provider(
    session: Session, *, user_id: uuid.UUID, actor: Actor, now: datetime
) -> StaffUser | None:
    """The provider no longer knows the person: their account is disabled and every session
    ends (audited); None when it was disabled already."""
    user = repository.get_user(session, user_id, for_update=True)
    if user is None or user.disabled_at is not None:
        return None
    user.disabled_at = now
    user.oidc_refresh_wrapped = None
    repository.end_sessions(session, user, now=now)
    factors.audit_account(
        session, actor, "staff_user.disabled", user, now, reason="gone_at_provider"
    )
    return user


def keep_refresh(
    session: Session, *, keys: MasterKey, user_id: uuid.UUID, refresh_token: str
) -> None:
    """Store the provider's rotated refresh token for the person."""
    user = repository.get_user(session, user_id, for_update=True)
    if user is not None and user.oidc_issuer and user.oidc_subject:
        binding = bound(user.oidc_issuer, user.oidc_subject)
        user.oidc_refresh_wrapped = keys.wrap(refresh_token.encode(), bound_to=binding)
        session.add(user)


def _no_role_message(roles: set[str]) -> str:
    if roles:
        return (
            f"your groups at the force's sign-in make you both {roles_in_words(roles)}; Tabard "
            "gives each person one role. Ask IT to leave you in one of those groups."
        )
    return (
        "you signed in, but none of your groups at the force's sign-in gives you a role in "
        "Tabard, so you have no access. If you need it, ask IT to add you to the right group."
    )


def _create(
    session: Session,
    *,
    id_token: IdClaims,
    role: str,
    actor: Actor,
    now: datetime,
    via: str,
    settings: Settings,
) -> StaffUser:
    claims = id_token.claims
    user = StaffUser(
        username=_username(session, claims.get(settings.oidc_username_claim), id_token=id_token),
        display_name=_text(claims.get("name"), 128),
        role=role,
        collar_number=_text(claims.get("collar_number"), 16) or None,
        division=_text(claims.get("division"), 64) or None,
        password_hash=None,
        must_change_password=False,
        sessions_valid_after=now.replace(microsecond=0),
        created_at=now,
        oidc_issuer=id_token.issuer,
        oidc_subject=id_token.subject,
    )
    if role in (Role.officer, Role.supervisor) and user.division is None:
        raise NoTabardRoleError(
            f"as {role_name(role).a} you need a division, which the force's sign-in did not "
            "send: ask IT to add it to your record there",
            keep_changes=True,
        )
    session.add(user)
    session.flush()
    factors.audit_account(
        session, actor, "staff_user.created", user, now, role=user.role, via=via, method="sso"
    )
    return user


def _follow_provider(
    session: Session, user: StaffUser, *, id_token: IdClaims, role: str, actor: Actor, now: datetime
) -> None:
    """The provider is the authority on the person's role: a change ends their old sessions."""
    if user.role == role:
        return
    before = user.role
    user.role = role
    repository.end_sessions(session, user, now=now)
    record(
        session,
        actor=actor,
        action="staff_user.role_changed",
        now=now,
        target_type="staff_user",
        target_id=user.id,
        detail={"username": user.username, "from": before, "to": role, "by": "sso"},
    )


def _disable(session: Session, user: StaffUser, *, now: datetime, actor: Actor, via: str) -> None:
    user.disabled_at = now
    repository.end_sessions(session, user, now=now)
    factors.audit_account(
        session, actor, "staff_user.disabled", user, now, reason="no_role_at_provider", via=via
    )


def _audit_refusal(
    session: Session,
    actor: Actor,
    now: datetime,
    id_token: IdClaims,
    *,
    reason: str,
    via: str,
    user: StaffUser | None = None,
) -> None:
    record(
        session,
        actor=actor,
        action="auth.login_refused",
        now=now,
        target_type="staff_user",
        target_id=user.id if user else None,
        detail={"reason": reason, "via": via, "method": "sso", "subject": id_token.subject},
    )


def _text(value: object, limit: int) -> str:
    return " ".join(value.split())[:limit] if isinstance(value, str) else ""


def _username(session: Session, claimed: object, *, id_token: IdClaims) -> str:
    """The provider's username for the person, made fit for Tabard (lowercase, no domain);
    when that is taken by another account, or unusable, one made from the subject, so an
    SSO account never takes over a local (break-glass) account's name."""
    wanted = _text(claimed, 256).lower().split("@")[0]
    wanted = re.sub(r"[^a-z0-9._-]", "-", wanted)[:64]
    if _USERNAME.match(wanted) and repository.get_user_by_username(session, wanted) is None:
        return wanted
    tag = hashlib.sha256(f"{id_token.issuer} {id_token.subject}".encode()).hexdigest()[:12]
    fallback = f"{wanted[:40]}-sso-{tag}" if _USERNAME.match(wanted) else f"sso-{tag}"
    return fallback
