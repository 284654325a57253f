"""Queries over container keys, PINs, acknowledgements and secure sessions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from mdm_server.secure.models import ContainerKey, OfficerPin, PolicyAcknowledgement, SecureSession


def live_key(
    session: Session, device_id: uuid.UUID, *, for_update: bool = False
) -> ContainerKey | None:
    query = select(ContainerKey).where(
        col(ContainerKey.device_id) == device_id, col(ContainerKey.destroyed_at).is_(None)
    )
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def keys_of(session: Session, device_id: uuid.UUID) -> Sequence[ContainerKey]:
    """Every container key the device has had, newest first."""
    query = (
        select(ContainerKey)
        .where(col(ContainerKey.device_id) == device_id)
        .order_by(col(ContainerKey.created_at).desc())
    )
    return session.exec(query).all()


def pin_of(session: Session, user_id: uuid.UUID, *, for_update: bool = False) -> OfficerPin | None:
    query = select(OfficerPin).where(col(OfficerPin.user_id) == user_id)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def acknowledgement(
    session: Session, officer_id: uuid.UUID, text_version: str
) -> PolicyAcknowledgement | None:
    query = select(PolicyAcknowledgement).where(
        col(PolicyAcknowledgement.officer_id) == officer_id,
        col(PolicyAcknowledgement.text_version) == text_version,
    )
    return session.exec(query).first()


def acknowledgements_of(session: Session, officer_id: uuid.UUID) -> Sequence[PolicyAcknowledgement]:
    query = (
        select(PolicyAcknowledgement)
        .where(col(PolicyAcknowledgement.officer_id) == officer_id)
        .order_by(
            col(PolicyAcknowledgement.acknowledged_at).desc(), col(PolicyAcknowledgement.id).desc()
        )
    )
    return session.exec(query).all()


def session_by_digest(
    session: Session, token_digest: str, *, for_update: bool = False
) -> SecureSession | None:
    query = select(SecureSession).where(col(SecureSession.token_digest) == token_digest)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def get_session(
    session: Session, session_id: uuid.UUID, *, for_update: bool = False
) -> SecureSession | None:
    query = select(SecureSession).where(col(SecureSession.id) == session_id)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def end_open_sessions(
    session: Session,
    *,
    now: datetime,
    reason: str,
    device_id: uuid.UUID | None = None,
    officer_id: uuid.UUID | None = None,
) -> int:
    """End every open session of a device or of an officer; how many were open."""
    statement = update(SecureSession).where(col(SecureSession.ended_at).is_(None))
    if device_id is not None:
        statement = statement.where(col(SecureSession.device_id) == device_id)
    if officer_id is not None:
        statement = statement.where(col(SecureSession.officer_id) == officer_id)
    result = session.execute(statement.values(ended_at=now, end_reason=reason))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
