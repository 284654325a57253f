"""Staff accounts for tests, created through the real service, and tokens for them."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI

from mdm_server.audit.service import Actor
from mdm_server.auth import accounts
from mdm_server.auth.models import StaffUser
from mdm_server.auth.schemas import UserCreate
from mdm_server.context import AppContext

PASSWORD = "correct horse battery staple"
_collars = iter(range(1000, 10**6))


def context_of(app: FastAPI) -> AppContext:
    context: AppContext = app.state.context
    return context


def create_staff(
    app: FastAPI,
    *,
    role: str = "it_admin",
    username: str | None = None,
    password: str = PASSWORD,
    collar: str | None = None,
    division: str | None = None,
    must_change_password: bool = False,
) -> StaffUser:
    context = context_of(app)
    if role == "officer":
        collar = collar or str(next(_collars))
    if role in ("officer", "supervisor"):
        division = division or "north"
    data = UserCreate(
        username=username or f"{role.replace('_', '-')}-{uuid.uuid4().hex[:8]}",
        role=role,  # type: ignore[arg-type]
        collar_number=collar,
        division=division,
    )
    with context.database.unit_of_work() as session:
        return accounts.create_user(
            session,
            data=data,
            password_hash=context.passwords.hash(password),
            must_change_password=must_change_password,
            actor=Actor.system("tests"),
            now=context.clock(),
        )


def bearer(app: FastAPI, user: StaffUser) -> dict[str, str]:
    """Authorization headers with a freshly issued access token for `user`."""
    context = context_of(app)
    issued = context.staff_tokens.issue(
        user_id=user.id,
        username=user.username,
        role=user.role,
        password_change_required=user.must_change_password,
        now=context.clock(),
    )
    return {"Authorization": f"Bearer {issued.token}"}


def headers_for(app: FastAPI, role: str, **kwargs: Any) -> dict[str, str]:
    return bearer(app, create_staff(app, role=role, **kwargs))
