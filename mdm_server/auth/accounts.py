"""Rules for staff accounts: creating them, listing them, disabling and unlocking them.
Never commits; the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.auth import repository, throttle
from mdm_server.auth.models import StaffUser
from mdm_server.auth.roles import STAFF_ROLES, Role, role_name
from mdm_server.auth.schemas import UserCreate
from mdm_server.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    quoted,
)


def _check_officer_fields(data: UserCreate) -> None:
    if data.role == Role.officer and (data.collar_number is None or data.division is None):
        raise InvalidRequestError("an officer needs a collar_number and a division")
    if data.role == Role.supervisor and data.division is None:
        raise InvalidRequestError("a supervisor needs a division")


def create_user(
    session: Session,
    *,
    data: UserCreate,
    password_hash: str,
    must_change_password: bool,
    actor: Actor,
    now: datetime,
) -> StaffUser:
    """A new staff account; refuses a taken username or collar number."""
    _check_officer_fields(data)
    if repository.get_user_by_username(session, data.username) is not None:
        raise ConflictError(f"username {quoted(data.username)} is taken", code="username_taken")
    if data.collar_number and repository.get_user_by_collar(session, data.collar_number):
        raise ConflictError(
            f"collar number {data.collar_number} belongs to another account", code="collar_taken"
        )
    user = StaffUser(
        username=data.username,
        display_name=data.display_name,
        role=data.role,
        collar_number=data.collar_number,
        division=data.division,
        password_hash=password_hash,
        must_change_password=must_change_password,
        sessions_valid_after=now.replace(microsecond=0),
        created_at=now,
    )
    session.add(user)
    session.flush()
    record(
        session,
        actor=actor,
        action="staff_user.created",
        now=now,
        target_type="staff_user",
        target_id=user.id,
        detail={
            "username": user.username,
            "role": user.role,
            "collar_number": user.collar_number,
            "division": user.division,
        },
    )
    return user


def any_active_admin(session: Session) -> bool:
    return repository.count_active_admins(session) > 0


def list_users(
    session: Session,
    *,
    role: str | None = None,
    division: str | None = None,
    include_disabled: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[StaffUser], int]:
    if role is not None and role not in STAFF_ROLES:
        raise InvalidRequestError(f"unknown role {quoted(role)}")
    return repository.list_users(
        session,
        role=role,
        division=division,
        include_disabled=include_disabled,
        limit=limit,
        offset=offset,
    )


def get_user_by_username(session: Session, username: str) -> StaffUser:
    user = repository.get_user_by_username(session, username)
    if user is None:
        raise NotFoundError(f"no staff account named {quoted(username)}", code="user_not_found")
    return user


def set_disabled(
    session: Session, *, username: str, disabled: bool, actor: Actor, now: datetime
) -> StaffUser:
    """Disable (ending every session) or re-enable an account. The last active it_admin cannot
    be disabled, so the fleet is never left without an administrator."""
    user = repository.get_user_by_username(session, username, for_update=True)
    if user is None:
        raise NotFoundError(f"no staff account named {quoted(username)}", code="user_not_found")
    if disabled and user.disabled_at is None:
        if user.role == Role.it_admin and repository.count_active_admins(session) <= 1:
            raise PermissionDeniedError(
                f"refusing to disable the last active {role_name(Role.it_admin).one}",
                code="last_admin",
            )
        user.disabled_at = now
        repository.end_sessions(session, user, now=now)
        record(
            session,
            actor=actor,
            action="staff_user.disabled",
            now=now,
            target_type="staff_user",
            target_id=user.id,
            detail={"username": username},
        )
    elif not disabled and user.disabled_at is not None:
        user.disabled_at = None
        record(
            session,
            actor=actor,
            action="staff_user.enabled",
            now=now,
            target_type="staff_user",
            target_id=user.id,
            detail={"username": username},
        )
    session.add(user)
    return user


def unlock(session: Session, *, username: str, actor: Actor, now: datetime) -> StaffUser:
    """Forgive the account's failed sign-ins from every address, so no address waits."""
    user = repository.get_user_by_username(session, username, for_update=True)
    if user is None:
        raise NotFoundError(f"no staff account named {quoted(username)}", code="user_not_found")
    addresses = throttle.forgive(session, username=username)
    record(
        session,
        actor=actor,
        action="staff_user.unlocked",
        now=now,
        target_type="staff_user",
        target_id=user.id,
        detail={"username": username, "addresses": addresses},
    )
    return user


def reset_password(
    session: Session, *, username: str, password_hash: str, actor: Actor, now: datetime
) -> StaffUser:
    """IT sets a temporary password: the account's sessions end, its failed sign-ins are
    forgiven, and the user must choose their own password at next login. Your own password
    you change yourself, with your current one."""
    user = repository.get_user_by_username(session, username, for_update=True)
    if user is None:
        raise NotFoundError(f"no staff account named {quoted(username)}", code="user_not_found")
    if actor.type == "staff" and actor.id == str(user.id):
        raise PermissionDeniedError(
            "you cannot reset your own password; change it with your current one "
            f"(POST /api/v1/auth/password), or ask another {role_name(Role.it_admin).one}",
            code="own_password",
        )
    user.password_hash = password_hash
    user.must_change_password = True
    throttle.forgive(session, username=username)
    repository.end_sessions(session, user, now=now)
    record(
        session,
        actor=actor,
        action="staff_user.password_reset",
        now=now,
        target_type="staff_user",
        target_id=user.id,
        detail={"username": username},
    )
    return user
