"""Queries over enrolment tokens."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from mdm_server.auth.models import StaffUser
from mdm_server.enrolment.models import EnrolmentToken

Creator = aliased(StaffUser)
Officer = aliased(StaffUser)
TokenWithNames = tuple[EnrolmentToken, str, str | None]


def token_by_digest(session: Session, digest: str) -> EnrolmentToken | None:
    """The token with this secret digest, locked for the rest of the transaction."""
    query = (
        select(EnrolmentToken).where(col(EnrolmentToken.secret_digest) == digest).with_for_update()
    )
    return session.exec(query).first()


def _with_names(session: Session, *conditions: Any) -> list[TokenWithNames]:
    """Tokens (newest first) with their creator's username and officer's collar number."""
    query = (
        select(EnrolmentToken, Creator.username, Officer.collar_number)
        .join(Creator, col(Creator.id) == col(EnrolmentToken.created_by))
        .outerjoin(Officer, col(Officer.id) == col(EnrolmentToken.officer_id))
        .where(*conditions)
        .order_by(col(EnrolmentToken.created_at).desc())
    )
    return [(token, creator, officer) for token, creator, officer in session.exec(query).all()]


def get_token(session: Session, token_id: uuid.UUID) -> TokenWithNames | None:
    rows = _with_names(session, col(EnrolmentToken.id) == token_id)
    return rows[0] if rows else None


def list_tokens(session: Session, *, usable_at: datetime | None) -> Sequence[TokenWithNames]:
    """Every token, or only those still usable at `usable_at`."""
    if usable_at is None:
        return _with_names(session)
    return _with_names(
        session,
        col(EnrolmentToken.revoked_at).is_(None),
        col(EnrolmentToken.expires_at) > usable_at,
        col(EnrolmentToken.uses_count) < col(EnrolmentToken.uses_allowed),
    )


def newly_expired(session: Session, *, now: datetime, limit: int) -> Sequence[EnrolmentToken]:
    """Unrevoked tokens past their expiry whose expiry is not yet on record, rows locked."""
    query = (
        select(EnrolmentToken)
        .where(col(EnrolmentToken.expires_at) <= now)
        .where(col(EnrolmentToken.expired_at).is_(None))
        .where(col(EnrolmentToken.revoked_at).is_(None))
        .order_by(col(EnrolmentToken.expires_at))
        .limit(limit)
        .with_for_update()
    )
    return session.exec(query).all()
