"""Second factors: setting one up, signing in with a code, stepping up, and removing one."""

from __future__ import annotations

from datetime import datetime

import segno
from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel

from mdm_server.auth import accounts, factors, passkeys, repository, second_factor, service
from mdm_server.auth.schemas import (
    CodeLogin,
    CodeRequest,
    FactorConfirmed,
    FactorEnrolment,
    FactorStatus,
    TokenPair,
)
from mdm_server.context import AppContext
from mdm_server.deps import (
    AnyStaff,
    AnyStaffPendingFactor,
    ContextDep,
    ITAdmin,
    PublicAccess,
    StaffPrincipal,
    anonymous_actor,
    require_step_up,
)
from mdm_server.errors import InvalidRequestError, error_responses

mfa_router = APIRouter(prefix="/api/v1", tags=["auth"])
QR_PATH = "/api/v1/auth/mfa/enrol/qr.svg"


class SteppedUp(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: datetime


@mfa_router.post("/auth/login/code", responses=error_responses(401, 429))
def login_with_code(
    body: CodeLogin, request: Request, context: ContextDep, _: PublicAccess
) -> TokenPair:
    """Finish a sign-in the password began: the challenge from POST /api/v1/auth/login and a
    code from the authenticator app, or an unused recovery code. A wrong or already used code
    counts as a failed sign-in from this address."""
    now = context.clock()
    challenge = context.staff_tokens.verify_challenge(body.challenge_token, now=now)
    actor = anonymous_actor(request)
    with context.database.unit_of_work() as session:
        user = second_factor.spend_code(
            session,
            user_id=challenge.user_id,
            code=body.code,
            actor=actor,
            now=now,
            settings=context.settings,
            keys=context.master_key,
            issued_after=challenge.issued_at,
        )
        second_factor.complete_sign_in(session, user=user, actor=actor, now=now)
        return service.issue_token_pair(
            session,
            user=user,
            now=now,
            settings=context.settings,
            tokens=context.staff_tokens,
            factor_at=now,
        )


@mfa_router.post("/auth/step-up", responses=error_responses(401, 429))
def step_up(body: CodeRequest, principal: AnyStaff, context: ContextDep) -> SteppedUp:
    """A fresh access token marked with a second factor used now, for the actions that
    cannot be undone (they answer 403 `step_up_required` without one)."""
    now = context.clock()
    with context.database.unit_of_work() as session:
        user = second_factor.spend_code(
            session,
            user_id=principal.user_id,
            code=body.code,
            actor=principal.actor,
            now=now,
            settings=context.settings,
            keys=context.master_key,
        )
        issued = context.staff_tokens.issue(
            user_id=user.id,
            username=user.username,
            role=user.role,
            password_change_required=user.must_change_password,
            factor_at=now,
            family_id=principal.family_id,  # ends with the sign-in it steps up
            now=now,
        )
    return SteppedUp(access_token=issued.token, expires_at=issued.expires_at)


@mfa_router.get("/auth/mfa")
def get_second_factor(principal: AnyStaffPendingFactor, context: ContextDep) -> FactorStatus:
    """Whether you have a second factor, and how many recovery codes are left."""
    with context.database.unit_of_work(write=False) as session:
        factor = repository.get_factor(session, principal.user_id)
        confirmed = factor is not None and factor.confirmed_at is not None
        return FactorStatus(
            enrolled=confirmed,
            pending=factor is not None and not confirmed,
            required=factors.required_for(principal.role, context.settings),
            confirmed_at=factor.confirmed_at if factor else None,
            last_used_at=factor.last_used_at if confirmed and factor else None,
            recovery_codes_left=repository.count_unused_recovery_codes(session, principal.user_id),
        )


@mfa_router.post(
    "/auth/mfa/enrol", status_code=status.HTTP_201_CREATED, responses=error_responses(409)
)
def enrol_second_factor(principal: AnyStaffPendingFactor, context: ContextDep) -> FactorEnrolment:
    """Start setting up an authenticator app: a new secret, its otpauth:// URI and a QR code.
    Nothing changes at sign-in until POST /api/v1/auth/mfa/enrol/confirm with a current code."""
    with context.database.unit_of_work() as session:
        user = accounts.get_user_by_username(session, principal.username)
        enrolment = factors.begin_enrolment(
            session, user=user, keys=context.master_key, actor=principal.actor, now=context.clock()
        )
    return FactorEnrolment(
        secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri, qr_svg_url=QR_PATH
    )


@mfa_router.get(
    "/auth/mfa/enrol/qr.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **error_responses(404)},
)
def second_factor_qr(principal: AnyStaffPendingFactor, context: ContextDep) -> Response:
    """The QR code of the factor being set up, to scan with an authenticator app; gone once
    the factor is confirmed."""
    svg = qr_svg(pending_uri(context, principal))
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


def pending_uri(context: AppContext, principal: StaffPrincipal) -> str:
    """The otpauth:// URI of the factor `principal` is setting up."""
    with context.database.unit_of_work(write=False) as session:
        user = accounts.get_user_by_username(session, principal.username)
        return factors.pending_enrolment(session, user=user, keys=context.master_key).otpauth_uri


def qr_svg(uri: str) -> str:
    """A QR code as SVG, dark on white whatever the page's colours, so phones can read it."""
    qr = segno.make(uri, error="m")
    return str(qr.svg_inline(scale=5, border=4, dark="#000", light="#fff"))


@mfa_router.post("/auth/mfa/enrol/confirm", responses=error_responses(400, 409))
def confirm_second_factor(
    body: CodeRequest, principal: AnyStaffPendingFactor, context: ContextDep
) -> FactorConfirmed:
    """Finish setting up with the code the app shows now. Returns ten recovery codes, shown
    only this once, and fresh tokens."""
    now = context.clock()
    with context.database.unit_of_work() as session:
        user = accounts.get_user_by_username(session, principal.username)
        codes = factors.confirm_enrolment(
            session,
            user=user,
            code=body.code,
            keys=context.master_key,
            actor=principal.actor,
            now=now,
        )
        tokens = service.issue_token_pair(
            session,
            user=user,
            now=now,
            settings=context.settings,
            tokens=context.staff_tokens,
            factor_at=now,
        )
    return FactorConfirmed(recovery_codes=codes, tokens=tokens)


@mfa_router.post(
    "/auth/mfa/remove",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 404, 429),
)
def remove_second_factor(body: CodeRequest, principal: AnyStaff, context: ContextDep) -> None:
    """Remove your own second factor, with a current code or a recovery code. IT
    administrators and auditors must then set up another before anything else."""
    now = context.clock()
    with context.database.unit_of_work() as session:
        user = second_factor.spend_code(
            session,
            user_id=principal.user_id,
            code=body.code,
            actor=principal.actor,
            now=now,
            settings=context.settings,
            keys=context.master_key,
        )
        factors.remove(session, user=user, actor=principal.actor, now=now, reason="own")


@mfa_router.delete(
    "/users/{username}/mfa",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404),
)
def remove_user_second_factor(username: str, principal: ITAdmin, context: ContextDep) -> None:
    """Remove someone's second factors, their authenticator app and their passkeys (they lost
    their phone and their recovery codes), so they can set up others. Needs a step-up; not for
    your own, which takes a code."""
    now = context.clock()
    with context.database.unit_of_work() as session:
        require_step_up(session, principal, context)
        user = accounts.get_user_by_username(session, username)
        if user.id == principal.user_id:
            raise InvalidRequestError(
                "remove your own second factor with a current code: POST /api/v1/auth/mfa/remove",
                code="own_second_factor",
            )
        passkeys_removed = passkeys.remove_all(
            session, user=user, actor=principal.actor, now=now, reason="by_it"
        )
        if repository.get_factor(session, user.id) is not None or not passkeys_removed:
            factors.remove(session, user=user, actor=principal.actor, now=now, reason="by_it")
