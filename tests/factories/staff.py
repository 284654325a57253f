"""Staff accounts for tests, created through the real service, and tokens for them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pyotp
from fastapi import FastAPI

from mdm_server.audit.service import Actor
from mdm_server.auth import accounts, factors
from mdm_server.auth import repository as auth_repository
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
    second_factor: bool | None = None,
) -> StaffUser:
    """An account; IT administrators and auditors come with a second factor (they may do
    nothing without one) unless `second_factor=False`."""
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
        user = accounts.create_user(
            session,
            data=data,
            password_hash=context.passwords.hash(password),
            must_change_password=must_change_password,
            actor=Actor.system("tests"),
            now=context.clock(),
        )
    if second_factor or (second_factor is None and factors.required_for(role, context.settings)):
        enrol_second_factor(app, user)
    return user


@dataclass
class Authenticator:
    """The phone of a test account: its secret and the recovery codes not yet used."""

    secret: str
    recovery_codes: list[str] = field(default_factory=list)


AUTHENTICATORS: dict[uuid.UUID, Authenticator] = {}


def enrol_second_factor(app: FastAPI, user: StaffUser) -> Authenticator:
    """Set up a second factor through the real service, confirming it with the previous
    step's code so that the current one is still unused."""
    context = context_of(app)
    now = context.clock()
    with context.database.unit_of_work() as session:
        enrolment = factors.begin_enrolment(
            session, user=user, keys=context.master_key, actor=Actor.system("tests"), now=now
        )
        previous = now - timedelta(seconds=factors.STEP_S)
        codes = factors.confirm_enrolment(
            session,
            user=user,
            code=pyotp.TOTP(enrolment.secret).at(previous),
            keys=context.master_key,
            actor=Actor.system("tests"),
            now=now,
        )
    phone = Authenticator(enrolment.secret, codes)
    AUTHENTICATORS[user.id] = phone
    return phone


def second_factor_code(app: FastAPI, user: StaffUser) -> str:
    """A code the server will accept now: the app's for the earliest step not yet used
    within the drift window, else a recovery code."""
    context = context_of(app)
    phone = AUTHENTICATORS[user.id]
    with context.database.unit_of_work(write=False) as session:
        factor = auth_repository.get_factor(session, user.id)
    assert factor is not None
    current = int(context.clock().timestamp()) // factors.STEP_S
    last = factor.last_used_step if factor.last_used_step is not None else -1
    for step in range(current - factors.DRIFT_STEPS, current + factors.DRIFT_STEPS + 1):
        if step > last:
            return pyotp.TOTP(phone.secret).generate_otp(step)
    return phone.recovery_codes.pop()


def bearer(app: FastAPI, user: StaffUser, *, stepped_up: bool = True) -> dict[str, str]:
    """Authorization headers with a freshly issued access token for `user`; the token says
    a second factor was just used when the account has one, unless not `stepped_up`."""
    context = context_of(app)
    now = context.clock()
    issued = context.staff_tokens.issue(
        user_id=user.id,
        username=user.username,
        role=user.role,
        password_change_required=user.must_change_password,
        factor_at=now if stepped_up and user.id in AUTHENTICATORS else None,
        now=now,
    )
    return {"Authorization": f"Bearer {issued.token}"}


def headers_for(app: FastAPI, role: str, **kwargs: Any) -> dict[str, str]:
    return bearer(app, create_staff(app, role=role, **kwargs))


def sign_in(client: Any, username: str, password: str = PASSWORD) -> Any:
    """POST /api/v1/auth/login, then, when the account has a second factor, the code its
    phone shows: the final response (a token pair on success)."""
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    if response.status_code != 200 or not response.json().get("second_factor_required"):
        return response
    app: FastAPI = client.app
    with context_of(app).database.unit_of_work(write=False) as session:
        user = auth_repository.get_user_by_username(session, username)
    assert user is not None
    challenge = response.json()["challenge_token"]
    code = second_factor_code(app, user)
    return client.post("/api/v1/auth/login/code", json={"challenge_token": challenge, "code": code})
