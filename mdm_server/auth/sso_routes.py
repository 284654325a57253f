"""Single sign-on over the API, for `tabard login --sso`: Tabard brokers the device
authorization grant (RFC 8628) with the force's provider.

Why Tabard brokers it rather than the CLI talking to the provider: the client secret (or
private key) stays on the server, one client registration serves the console and the CLI,
the ID token is validated and mapped to a role in one place, and the CLI ends with Tabard's
own token pair exactly as after `tabard login`, needing no provider configuration at all.
The provider's device code never leaves the server in clear: the CLI holds it sealed
(mdm_server.auth.sealed) as an opaque poll token, which any API node can open."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response, status

from mdm_server.auth import service, sso
from mdm_server.auth.oidc import DevicePending, OidcClient
from mdm_server.auth.schemas import (
    DevicePoll,
    DeviceSignInPending,
    DeviceSignInStarted,
    SsoStatus,
    TokenPair,
)
from mdm_server.auth.tokens import FEDERATED
from mdm_server.context import AppContext
from mdm_server.deps import ContextDep, PublicAccess, anonymous_actor
from mdm_server.errors import AuthenticationError, NotFoundError, error_responses

router = APIRouter(prefix="/api/v1/auth/sso", tags=["auth"])
DEVICE_PURPOSE = "cli-device-sso"


def _client(context: AppContext) -> OidcClient:
    if context.oidc is None:
        raise NotFoundError(
            "single sign-on is not set up on this server: log in with --username",
            code="sso_not_configured",
        )
    return context.oidc


@router.get("")
def sso_status(context: ContextDep, _: PublicAccess) -> SsoStatus:
    """Whether this server signs staff in through the force's OpenID provider."""
    if context.oidc is None:
        return SsoStatus(enabled=False)
    return SsoStatus(
        enabled=True,
        provider_name=context.settings.oidc_provider_name,
        issuer=context.oidc.issuer,
        device_sign_in=True,
    )


@router.post("/device", status_code=status.HTTP_201_CREATED, responses=error_responses(404, 503))
def start_device_sign_in(context: ContextDep, _: PublicAccess) -> DeviceSignInStarted:
    """Begin a sign-in by the device authorization grant: the provider's user code and where
    to type it, and a poll token for POST /api/v1/auth/sso/device/token. The provider is
    asked to have the person sign in again if they last did more than the step-up window
    ago, so that the sign-in also serves as a step-up."""
    settings = context.settings
    started = _client(context).start_device(
        max_age_s=settings.step_up_max_age_s, acr=settings.oidc_step_up_acr
    )
    now = context.clock()
    expires_at = now + timedelta(seconds=started.expires_in)
    poll_token = context.sealer.seal(
        DEVICE_PURPOSE, {"device_code": started.device_code}, expires_at=expires_at
    )
    return DeviceSignInStarted(
        verification_uri=started.verification_uri,
        verification_uri_complete=started.verification_uri_complete,
        user_code=started.user_code,
        expires_at=expires_at,
        interval=started.interval,
        poll_token=poll_token,
    )


@router.post(
    "/device/token",
    responses={
        202: {"model": DeviceSignInPending, "description": "Not signed in at the provider yet"},
        **error_responses(401, 403, 404, 503),
    },
)
def finish_device_sign_in(
    body: DevicePoll, request: Request, response: Response, context: ContextDep, _: PublicAccess
) -> TokenPair | DeviceSignInPending:
    """Tabard's token pair once the person has signed in at the provider (202 and the interval
    while they have not): the same tokens `POST /api/v1/auth/login` gives, counting the
    sign-in there (its `auth_time`) as the second factor's use, `amr` `fed`."""
    client = _client(context)
    now = context.clock()
    opened = context.sealer.open(DEVICE_PURPOSE, body.poll_token, now=now)
    if opened is None:
        raise AuthenticationError(
            "poll token not recognised or expired: run tabard login --sso again",
            code="sso_expired",
        )
    answer = client.poll_device(str(opened["device_code"]))
    if isinstance(answer, DevicePending):
        response.status_code = status.HTTP_202_ACCEPTED
        return DeviceSignInPending(interval=10 if answer.slow_down else 5)
    claims = client.validate_id_token(answer.id_token, nonce=None, now=now)
    with context.database.unit_of_work() as session:
        # Wrapped inside the transaction that stores it, so a master key rotation's
        # wait for older transactions covers it (docs/operations.md, The master key).
        refresh = sso.wrap_refresh(
            context.master_key, id_token=claims, refresh_token=answer.refresh_token
        )
        user = sso.sign_in(
            session,
            id_token=claims,
            actor=anonymous_actor(request),
            now=now,
            settings=context.settings,
            via="cli",
            refresh_wrapped=refresh,
        )
        return service.issue_token_pair(
            session,
            user=user,
            now=now,
            settings=context.settings,
            tokens=context.staff_tokens,
            factor_at=sso.signed_in_at(claims, settings=context.settings, now=now),
            factor_method=FEDERATED,
        )
