"""The queries behind rotating the master key: every stored secret wrapped under it, walked in
primary-key order, and what PostgreSQL knows of other transactions."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, text
from sqlmodel import Session, SQLModel, col, select

import mdm_server.models  # noqa: F401  (every table, so that foreign keys resolve)
from mdm_server.auth import factors, sso
from mdm_server.auth.models import SecondFactor, StaffUser
from mdm_server.secure import keys as container_keys
from mdm_server.secure.models import ContainerKey


@dataclass(frozen=True)
class WrappedSecrets:
    """One column of secrets wrapped under the master key, and what each is bound to."""

    name: str  # for people: "container keys"
    model: type[SQLModel]
    key: str  # the primary key's attribute
    column: str  # the wrapped secret's attribute
    bound_to: Callable[[Any], bytes]


def _refresh_bound(user: StaffUser) -> bytes:
    if user.oidc_issuer is None or user.oidc_subject is None:
        raise ValueError(f"account {user.id} holds a refresh token but no sign-on identity")
    return sso.bound(user.oidc_issuer, user.oidc_subject)


def _factor_bound(factor: SecondFactor) -> bytes:
    return factors.binding(factor.user_id)


WRAPPED: tuple[WrappedSecrets, ...] = (
    WrappedSecrets("container keys", ContainerKey, "id", "wrapped", container_keys.bound_to),
    WrappedSecrets(
        "second-factor secrets", SecondFactor, "user_id", "secret_wrapped", _factor_bound
    ),
    WrappedSecrets(
        "sign-on refresh tokens", StaffUser, "id", "oidc_refresh_wrapped", _refresh_bound
    ),
)


def count_wrapped(session: Session, secrets: WrappedSecrets) -> int:
    """How many rows hold a wrapped secret in this column."""
    column = getattr(secrets.model, secrets.column)
    query = select(func.count()).select_from(secrets.model).where(col(column).is_not(None))
    return int(session.exec(query).one())


def wrapped_batch(
    session: Session,
    secrets: WrappedSecrets,
    *,
    after: uuid.UUID | None,
    limit: int,
    for_update: bool = True,
) -> Sequence[Any]:
    """Up to `limit` rows holding a wrapped secret, after `after` in key order, locked for
    update so that a request changing one waits for the batch."""
    column = getattr(secrets.model, secrets.column)
    key = getattr(secrets.model, secrets.key)
    query = select(secrets.model).where(col(column).is_not(None))
    if after is not None:
        query = query.where(col(key) > after)
    query = query.order_by(col(key)).limit(limit)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).all()


def database_now(session: Session) -> datetime:
    """PostgreSQL's clock now (not the transaction's start)."""
    return session.execute(text("SELECT clock_timestamp()")).scalar_one()  # type: ignore[no-any-return]


def oldest_other_transaction(session: Session) -> datetime | None:
    """When the oldest transaction open on this database, other than ours, began."""
    query = text(
        "SELECT min(xact_start) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return session.execute(query).scalar_one()  # type: ignore[no-any-return]
