"""Queries over staff accounts and refresh tokens."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from mdm_server.auth.models import (
    Passkey,
    PasskeyCeremony,
    RecoveryCode,
    RefreshToken,
    SecondFactor,
    SeenIdToken,
    StaffUser,
)
from mdm_server.auth.roles import Role
from mdm_server.db import insert_ignoring_conflicts

# Two requests racing with one ID token: exactly one insert wins, the other is the replay.
_INSERT_SEEN = insert_ignoring_conflicts(
    SeenIdToken.__table__,  # type: ignore[attr-defined]
    index_elements=["token_digest"],
)


def get_user(session: Session, user_id: uuid.UUID, *, for_update: bool = False) -> StaffUser | None:
    query = select(StaffUser).where(col(StaffUser.id) == user_id)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def get_user_by_subject(
    session: Session, *, issuer: str, subject: str, for_update: bool = False
) -> StaffUser | None:
    """The account the OpenID provider `issuer` knows as `subject`."""
    query = select(StaffUser).where(
        col(StaffUser.oidc_issuer) == issuer, col(StaffUser.oidc_subject) == subject
    )
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def sso_accounts_to_check(session: Session) -> Sequence[StaffUser]:
    """Active single sign-on accounts holding the provider's refresh token."""
    return session.exec(
        select(StaffUser).where(
            col(StaffUser.oidc_refresh_wrapped).is_not(None), col(StaffUser.disabled_at).is_(None)
        )
    ).all()


def remember_id_token(session: Session, *, token_digest: str, expires_at: datetime) -> bool:
    """Note an accepted ID token; False when it was seen before (a replay)."""
    insert = _INSERT_SEEN[session.get_bind().dialect.name]
    # RETURNING rather than rowcount, which psycopg leaves at -1 here.
    inserted = session.execute(
        insert.values(token_digest=token_digest, expires_at=expires_at).returning(
            col(SeenIdToken.token_digest)
        )
    ).first()
    return inserted is not None


def delete_expired_id_tokens(session: Session, *, before: datetime) -> int:
    result = session.execute(delete(SeenIdToken).where(col(SeenIdToken.expires_at) < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def get_user_by_username(
    session: Session, username: str, *, for_update: bool = False
) -> StaffUser | None:
    query = select(StaffUser).where(col(StaffUser.username) == username)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def get_user_by_collar(session: Session, collar_number: str) -> StaffUser | None:
    return session.exec(
        select(StaffUser).where(col(StaffUser.collar_number) == collar_number)
    ).first()


def count_active_admins(session: Session) -> int:
    query = (
        select(func.count())
        .select_from(StaffUser)
        .where(col(StaffUser.role) == Role.it_admin, col(StaffUser.disabled_at).is_(None))
    )
    return int(session.exec(query).one())


def list_users(
    session: Session,
    *,
    role: str | None,
    division: str | None,
    include_disabled: bool,
    limit: int,
    offset: int,
) -> tuple[Sequence[StaffUser], int]:
    query = select(StaffUser)
    if role is not None:
        query = query.where(col(StaffUser.role) == role)
    if division is not None:
        query = query.where(col(StaffUser.division) == division)
    if not include_disabled:
        query = query.where(col(StaffUser.disabled_at).is_(None))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = session.exec(query.order_by(col(StaffUser.username)).limit(limit).offset(offset)).all()
    return page, int(total)


def get_refresh_token(session: Session, digest: str) -> RefreshToken | None:
    query = select(RefreshToken).where(col(RefreshToken.token_digest) == digest).with_for_update()
    return session.exec(query).first()


def revoke_refresh_family(session: Session, family_id: uuid.UUID, *, now: datetime) -> None:
    session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def refresh_family_revoked(session: Session, family_id: uuid.UUID) -> bool:
    """Whether a sign-in's refresh-token family was revoked (logout, or a token used twice)."""
    return (
        session.exec(
            select(RefreshToken.id).where(
                col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_not(None)
            )
        ).first()
        is not None
    )


def revoke_user_refresh_tokens(session: Session, user_id: uuid.UUID, *, now: datetime) -> None:
    session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def end_sessions(session: Session, user: StaffUser, *, now: datetime) -> None:
    """End every session of the account: access tokens issued before this second and console
    sign-ins stop working, and its refresh tokens are revoked."""
    user.sessions_valid_after = now.replace(microsecond=0)
    session.add(user)
    revoke_user_refresh_tokens(session, user.id, now=now)


def delete_expired_refresh_tokens(session: Session, *, before: datetime) -> int:
    result = session.execute(delete(RefreshToken).where(col(RefreshToken.expires_at) < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def get_factor(
    session: Session, user_id: uuid.UUID, *, for_update: bool = False
) -> SecondFactor | None:
    query = select(SecondFactor).where(col(SecondFactor.user_id) == user_id)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def has_confirmed_factor(session: Session, user_id: uuid.UUID) -> bool:
    """Whether the account has a working second factor: an authenticator app or a passkey."""
    query = select(func.count()).where(
        col(SecondFactor.user_id) == user_id, col(SecondFactor.confirmed_at).is_not(None)
    )
    return bool(session.exec(query).one()) or has_passkey(session, user_id)


def has_totp(session: Session, user_id: uuid.UUID) -> bool:
    query = select(func.count()).where(
        col(SecondFactor.user_id) == user_id, col(SecondFactor.confirmed_at).is_not(None)
    )
    return bool(session.exec(query).one())


def has_passkey(session: Session, user_id: uuid.UUID) -> bool:
    query = select(func.count()).select_from(Passkey).where(col(Passkey.user_id) == user_id)
    return bool(session.exec(query).one())


def list_passkeys(session: Session, user_id: uuid.UUID) -> Sequence[Passkey]:
    query = (
        select(Passkey)
        .where(col(Passkey.user_id) == user_id)
        .order_by(col(Passkey.created_at), col(Passkey.name))
    )
    return session.exec(query).all()


def get_passkey(
    session: Session, passkey_id: uuid.UUID, *, for_update: bool = False
) -> Passkey | None:
    query = select(Passkey).where(col(Passkey.id) == passkey_id)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def get_passkey_by_credential(session: Session, credential_id: str) -> Passkey | None:
    return session.exec(select(Passkey).where(col(Passkey.credential_id) == credential_id)).first()


def delete_passkeys(session: Session, user_id: uuid.UUID) -> int:
    result = session.execute(delete(Passkey).where(col(Passkey.user_id) == user_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def take_ceremony(session: Session, ceremony_id: uuid.UUID) -> PasskeyCeremony | None:
    """The ceremony, deleted as it is read: whatever the answer, it is never taken twice."""
    query = select(PasskeyCeremony).where(col(PasskeyCeremony.id) == ceremony_id).with_for_update()
    ceremony = session.exec(query).first()
    if ceremony is not None:
        session.delete(ceremony)
        session.flush()
    return ceremony


def delete_expired_ceremonies(
    session: Session, *, before: datetime, user_id: uuid.UUID | None = None
) -> int:
    statement = delete(PasskeyCeremony).where(col(PasskeyCeremony.expires_at) < before)
    if user_id is not None:
        statement = statement.where(col(PasskeyCeremony.user_id) == user_id)
    result = session.execute(statement)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def delete_factor(session: Session, user_id: uuid.UUID) -> None:
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    session.execute(delete(SecondFactor).where(col(SecondFactor.user_id) == user_id))


def get_unused_recovery_code(
    session: Session, user_id: uuid.UUID, code_digest: str
) -> RecoveryCode | None:
    query = (
        select(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user_id,
            col(RecoveryCode.code_digest) == code_digest,
            col(RecoveryCode.used_at).is_(None),
        )
        .with_for_update()
    )
    return session.exec(query).first()


def count_unused_recovery_codes(session: Session, user_id: uuid.UUID) -> int:
    query = select(func.count()).where(
        col(RecoveryCode.user_id) == user_id, col(RecoveryCode.used_at).is_(None)
    )
    return int(session.exec(query).one())
