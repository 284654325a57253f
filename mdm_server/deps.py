"""Request dependencies, above all the access rule every route must declare.

Deny by default: `create_app` refuses to start if any API route lacks exactly one
`AccessRule` among its dependencies.

Routes open their own unit of work (`context.database.unit_of_work()`) in the endpoint body
rather than through a dependency: FastAPI runs each dependency, the endpoint and a dependency's
exit as separate thread-pool hops, and a transaction held open across those hops keeps SQLite's
write lock while the event loop schedules other requests. A transaction begins and commits
within one hop."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from mdm_server import metrics
from mdm_server.audit.service import Actor
from mdm_server.auth import factors, second_factor
from mdm_server.auth import repository as auth_repository
from mdm_server.auth import service as auth_service
from mdm_server.auth.models import StaffUser
from mdm_server.auth.roles import STAFF_ROLES, Role, role_name, roles_in_words
from mdm_server.context import AppContext
from mdm_server.devices import authentication, quick
from mdm_server.devices import repository as devices_repository
from mdm_server.devices.authentication import AssertionCheck, VerifiedDevice
from mdm_server.devices.repository import DeviceRef
from mdm_server.devices.service import device_actor
from mdm_server.errors import AuthenticationError, NotFoundError, PermissionDeniedError


def app_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


async def get_context(request: Request) -> AppContext:
    """Async, so FastAPI calls it inline instead of hopping to the thread pool."""
    return app_context(request)


ContextDep = Annotated[AppContext, Depends(get_context)]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def anonymous_actor(request: Request) -> Actor:
    return Actor(type="anonymous", source_ip=client_ip(request), request_id=request_id(request))


class AccessRule:
    """Base of the dependencies that say who may call a route."""

    roles: frozenset[str] = frozenset()


class Public(AccessRule):
    """Anyone may call the route (it authenticates by other means, or exposes nothing)."""

    async def __call__(self) -> None:
        return None


class MetricsScrape(AccessRule):
    """Prometheus, with the metrics token (`TABARD_METRICS_TOKEN`) as its bearer token; no
    staff or device credential opens the route. Unset, the route is not there (404)."""

    async def __call__(self, request: Request) -> None:
        expected = app_context(request).settings.metrics_token
        if expected is None:
            raise NotFoundError("metrics are off: set TABARD_METRICS_TOKEN", code="not_found")
        given = request.headers.get("authorization")
        if not metrics.token_matches(given, expected.get_secret_value()):
            raise AuthenticationError(
                "/metrics needs the metrics token as its bearer token", code="metrics_token"
            )


@dataclass(frozen=True)
class StaffPrincipal:
    user_id: Any
    username: str
    role: str
    collar_number: str | None
    division: str | None
    actor: Actor
    factor_at: datetime | None = field(
        default=None, kw_only=True
    )  # when the token's second factor was used (step-up)
    family_id: uuid.UUID | None = field(
        default=None, kw_only=True
    )  # the API sign-in's refresh-token family, which a fresh token stays in


def require_step_up(session: Session, principal: StaffPrincipal, context: AppContext) -> None:
    """403 `step_up_required` unless the caller used a second factor within the step-up
    window (or has none to use, where their role need not): `second_factor.require_step_up`."""
    second_factor.require_step_up(
        session,
        user_id=principal.user_id,
        factor_at=principal.factor_at,
        now=context.clock(),
        settings=context.settings,
    )


class StaffAccess(AccessRule):
    """The caller must present a staff access token for one of `roles`."""

    wrong_role = "this is for {allowed} only; you are signed in as {you}"
    must_change_first = "change your password first (POST /api/v1/auth/password)"
    must_enrol_first = (
        "{role} must set up a second factor before anything else: POST /api/v1/auth/mfa/enrol "
        "(tabard mfa enrol, or the console's second factor page)"
    )

    def __init__(
        self,
        *roles: str,
        allow_pending_password_change: bool = False,
        allow_pending_factor: bool = False,
    ) -> None:
        self.roles = frozenset(roles)
        self.allow_pending = allow_pending_password_change
        self.allow_pending_factor = allow_pending_factor

    def admit(
        self,
        user: StaffUser,
        request: Request,
        *,
        factor_enrolled: bool,
        factor_at: datetime | None = None,
        family_id: uuid.UUID | None = None,
    ) -> StaffPrincipal:
        """The account as a principal, if its role is allowed here and it need not first
        choose a new password or, for IT administrators and auditors, set up a second
        factor."""
        if user.role not in self.roles:
            raise PermissionDeniedError(
                self.wrong_role.format(
                    allowed=roles_in_words(self.roles), you=role_name(user.role).a
                )
            )
        if user.must_change_password and not self.allow_pending:
            raise PermissionDeniedError(self.must_change_first, code="password_change_required")
        if not factor_enrolled and not self.allow_pending_factor:
            raise PermissionDeniedError(
                self.must_enrol_first.format(role=role_name(user.role).many.capitalize()),
                code="second_factor_enrolment_required",
            )
        actor = auth_service.staff_actor(
            user, source_ip=client_ip(request), request_id=request_id(request)
        )
        return StaffPrincipal(
            user_id=user.id,
            username=user.username,
            role=user.role,
            collar_number=user.collar_number,
            division=user.division,
            actor=actor,
            factor_at=factor_at,
            family_id=family_id,
        )

    def __call__(self, request: Request, context: ContextDep) -> StaffPrincipal:
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError(
                "missing Authorization: Bearer <access token>; log in at /api/v1/auth/login"
            )
        now = context.clock()
        claims = context.staff_tokens.verify(token.strip(), now=now)
        with context.database.unit_of_work(write=False) as session:
            user = auth_service.resolve_principal(session, claims=claims, now=now)
            enrolled = not factors.required_of(
                user, context.settings
            ) or auth_repository.has_confirmed_factor(session, user.id)
        return self.admit(
            user,
            request,
            factor_enrolled=enrolled,
            factor_at=claims.factor_at,
            family_id=claims.family_id,
        )


@dataclass(frozen=True)
class DevicePrincipal:
    device: DeviceRef
    actor: Actor


@dataclass
class DeviceRequest:
    """A device's request, before and after its assertion has been checked.

    Checking the assertion reads the device and records its `jti`, and a transaction must begin
    and end within one thread-pool hop. So the check runs when the route opens
    `transaction(context)`, in the same unit of work as the route's own changes. A spent `jti`
    stays spent even when the request then fails."""

    authorization: str | None
    method: str
    path: str
    source_ip: str | None
    request_id: str | None
    authenticated: bool = False

    def claimed_device_id(self) -> uuid.UUID:
        """The device id the assertion claims, not yet verified (for subscribing to wake-ups
        before the check runs; nothing is answered on its word)."""
        return authentication.claimed_device_id(self.authorization)

    def _check(self, context: AppContext) -> AssertionCheck:
        return AssertionCheck(
            authorization=self.authorization,
            method=self.method,
            path=self.path,
            audience=context.settings.device_audience,
            now=context.clock(),
            skew_s=context.settings.device_clock_skew_s,
        )

    def _authenticate(self, session: Session, context: AppContext) -> VerifiedDevice:
        verified = authentication.authenticate(
            session, self._check(context), keys=context.device_keys
        )
        self.authenticated = True
        return verified

    async def check_in_quickly(
        self, context: AppContext, *, posture_digest: str
    ) -> quick.QuickCheckin | None:
        """A check-in that changes nothing but the times, authenticated and recorded in one
        statement; None when the route must open `transaction()` instead."""
        answer = await quick.attempt(
            context.database,
            self._check(context),
            keys=context.device_keys,
            posture_digest=posture_digest,
        )
        if answer is not None:
            self.authenticated = True
        return answer

    async def poll_quickly(self, context: AppContext) -> bool:
        """An idle poll authenticated in one statement: True when the device is owed no
        command and its assertion is recorded; False when the route must open
        `transaction()` instead."""
        device_id = await quick.attempt_poll(
            context.database, self._check(context), keys=context.device_keys
        )
        if device_id is not None:
            self.authenticated = True
        return device_id is not None

    @contextmanager
    def transaction(self, context: AppContext) -> Iterator[tuple[Session, DevicePrincipal]]:
        """Authenticate the device and open the request's unit of work, together."""
        verified: VerifiedDevice | None = None
        try:
            with context.database.unit_of_work() as session:
                verified = self._authenticate(session, context)
                device = verified.device
                actor = device_actor(
                    device.id, device.serial, source_ip=self.source_ip, request_id=self.request_id
                )
                yield session, DevicePrincipal(device=device, actor=actor)
        except BaseException:
            if verified is not None:
                _spend(context, verified)
            raise

    def authenticate_alone(self, context: AppContext) -> None:
        """Check the assertion in a transaction of its own (for a request failing early)."""
        with context.database.unit_of_work() as session:
            self._authenticate(session, context)


def _spend(context: AppContext, verified: VerifiedDevice) -> None:
    """Record a used `jti` after its request's unit of work rolled back."""
    with context.database.unit_of_work() as session:
        devices_repository.remember_assertion(
            session, device_id=verified.device.id, jti=verified.jti, expires_at=verified.expires_at
        )


class DeviceAccess(AccessRule):
    """The caller must be an active device presenting a valid assertion (DESIGN.md flow 2).

    Obviously bad credentials are refused here, before the body is read. The full check runs
    in the route's `transaction()`; a route that never opens one fails closed with a 500. A
    request refused before the route runs (a body that fails validation, say) is still
    authenticated, so an unauthenticated caller learns nothing but 401 and a valid assertion
    is spent."""

    roles = frozenset({Role.device})

    async def __call__(self, request: Request) -> AsyncIterator[DeviceRequest]:
        authorization = request.headers.get("authorization")
        authentication.precheck(authorization)
        device_request = DeviceRequest(
            authorization=authorization,
            method=request.method,
            path=request.url.path,
            source_ip=client_ip(request),
            request_id=request_id(request),
        )
        try:
            yield device_request
        except Exception:
            if not device_request.authenticated:
                await run_in_threadpool(device_request.authenticate_alone, app_context(request))
            raise
        if not device_request.authenticated:
            raise RuntimeError(f"device route {request.url.path} did not authenticate its caller")


PUBLIC = Public()
PublicAccess = Annotated[None, Depends(PUBLIC)]
MetricsAccess = Annotated[None, Depends(MetricsScrape())]
ITAdmin = Annotated[StaffPrincipal, Depends(StaffAccess(Role.it_admin))]
FleetReader = Annotated[StaffPrincipal, Depends(StaffAccess(Role.it_admin, Role.auditor))]
Auditor = Annotated[StaffPrincipal, Depends(StaffAccess(Role.auditor))]
Officer = Annotated[StaffPrincipal, Depends(StaffAccess(Role.officer))]
Supervisor = Annotated[StaffPrincipal, Depends(StaffAccess(Role.supervisor))]
MissingPersonsUnit = Annotated[StaffPrincipal, Depends(StaffAccess(Role.missing_persons))]
AnyStaff = Annotated[StaffPrincipal, Depends(StaffAccess(*STAFF_ROLES))]
AnyStaffPendingPassword = Annotated[
    StaffPrincipal,
    Depends(
        StaffAccess(*STAFF_ROLES, allow_pending_password_change=True, allow_pending_factor=True)
    ),
]
AnyStaffPendingFactor = Annotated[
    StaffPrincipal, Depends(StaffAccess(*STAFF_ROLES, allow_pending_factor=True))
]
DeviceCaller = Annotated[DeviceRequest, Depends(DeviceAccess(), scope="function")]


def access_rules(dependant: Dependant) -> list[AccessRule]:
    """Every access rule in a route's dependency tree."""
    found = [dependant.call] if isinstance(dependant.call, AccessRule) else []
    for child in dependant.dependencies:
        found.extend(access_rules(child))
    return found


@dataclass(frozen=True)
class DeclaredRoute:
    path: str
    methods: frozenset[str]
    rules: tuple[AccessRule, ...]
    param_names: tuple[str, ...]


def declared_routes(app: FastAPI) -> list[DeclaredRoute]:
    """Every API route as served, with the access rules of its effective dependency tree
    (router-level dependencies included)."""
    found = []
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        if not isinstance(dependant, Dependant):
            continue  # Starlette's own routes: /docs, /openapi.json
        found.append(
            DeclaredRoute(
                path=str(context.path),
                methods=frozenset(context.methods or ()),
                rules=tuple(access_rules(dependant)),
                param_names=tuple(getattr(context, "param_convertors", {})),
            )
        )
    return found


def assert_every_route_declares_access(app: FastAPI) -> None:
    """Refuse to build an app with a route that does not say who may call it."""
    for route in declared_routes(app):
        if len(route.rules) != 1:
            raise RuntimeError(
                f"route {sorted(route.methods)} {route.path} declares {len(route.rules)} access "
                "rules; every route needs exactly one (deny by default)"
            )


__all__ = [
    "PUBLIC",
    "AccessRule",
    "AnyStaff",
    "AnyStaffPendingFactor",
    "AnyStaffPendingPassword",
    "ContextDep",
    "DeviceCaller",
    "FleetReader",
    "ITAdmin",
    "MetricsAccess",
    "Officer",
    "PublicAccess",
    "Supervisor",
]
