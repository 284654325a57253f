"""Deny by default: every route names who may call it, and everyone else is refused."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient

from mdm_server.auth.roles import STAFF_ROLES
from mdm_server.config import Settings
from mdm_server.deps import (
    AccessRule,
    DeclaredRoute,
    DeviceAccess,
    ITAdmin,
    MetricsScrape,
    Public,
    assert_every_route_declares_access,
    declared_routes,
)
from tests.conftest import FakeClock, make_settings
from tests.factories.devices import SimulatedDevice
from tests.factories.staff import headers_for


def _routes(app: FastAPI) -> list[tuple[DeclaredRoute, str, AccessRule]]:
    """The API's routes (the console's pages have their own matrix in tests/console)."""
    found = []
    for route in declared_routes(app):
        if route.path.startswith("/console"):
            continue
        (rule,) = route.rules
        for method in sorted(route.methods):
            found.append((route, method, rule))
    return found


def _url(route: DeclaredRoute) -> str:
    filled = route.path
    for name in route.param_names:
        filled = filled.replace("{" + name + "}", str(uuid.uuid4()))
    return filled


def _call(client: TestClient, method: str, url: str, headers: dict[str, str]) -> Any:
    body = {} if method in ("POST", "PATCH", "PUT") else None
    return client.request(method, url, headers=headers, json=body)


class TestEveryRouteDeclaresAccess:
    def test_the_app_refuses_to_start_with_an_undeclared_route(self) -> None:
        router = APIRouter()

        @router.get("/api/v1/oops")
        def oops() -> dict[str, str]:
            return {}

        app = FastAPI()
        app.include_router(router)
        with pytest.raises(RuntimeError, match="/api/v1/oops"):
            assert_every_route_declares_access(app)

    def test_a_router_level_rule_stacked_on_a_route_rule_is_refused(self) -> None:
        router = APIRouter()

        @router.get("/api/v1/both")
        def both(_: ITAdmin) -> None:
            return None

        app = FastAPI()
        app.include_router(router, dependencies=[Depends(Public())])
        with pytest.raises(RuntimeError, match="2 access rules"):
            assert_every_route_declares_access(app)

    def test_every_route_of_the_real_app_has_exactly_one_rule(self, app: FastAPI) -> None:
        assert all(len(route.rules) == 1 for route in declared_routes(app))
        routes = _routes(app)
        assert len(routes) >= 20
        public = sorted(f"{m} {r.path}" for r, m, rule in routes if isinstance(rule, Public))
        assert public == [
            "GET /api/v1/audit/checkpoint",
            "GET /api/v1/audit/key-changes",
            "GET /api/v1/audit/proof/consistency",
            "GET /api/v1/audit/proof/inclusion",
            "GET /api/v1/audit/verifier-key",
            "GET /api/v1/auth/sso",
            "GET /api/v1/ca",
            "GET /api/v1/health",
            "GET /api/v1/ready",
            "GET /docs",
            "GET /redoc",
            "POST /api/v1/auth/login",
            "POST /api/v1/auth/login/code",
            "POST /api/v1/auth/login/passkey",
            "POST /api/v1/auth/login/passkey/options",
            "POST /api/v1/auth/logout",
            "POST /api/v1/auth/refresh",
            "POST /api/v1/auth/sso/device",
            "POST /api/v1/auth/sso/device/token",
            "POST /api/v1/device/enrol",
        ]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """With a metrics token, so /metrics is there to be refused like any other route."""
    return make_settings(tmp_path / "data", metrics_token="m" * 32)


class TestAccessMatrix:
    def test_no_credentials_get_401_everywhere_but_public_routes(
        self, app: FastAPI, client: TestClient
    ) -> None:
        for route, method, rule in _routes(app):
            if isinstance(rule, Public):
                continue
            response = _call(client, method, _url(route), {})
            assert response.status_code == 401, f"{method} {route.path}: {response.text}"
            assert set(response.json()) == {"error", "detail"}

    def test_each_staff_role_is_refused_where_it_is_not_allowed(
        self, app: FastAPI, client: TestClient
    ) -> None:
        headers = {role: headers_for(app, role) for role in STAFF_ROLES}
        checked = 0
        for route, method, rule in _routes(app):
            if isinstance(rule, Public):
                continue
            for role in STAFF_ROLES:
                if role in rule.roles:
                    continue
                response = _call(client, method, _url(route), headers[role])
                # Neither a device route nor /metrics knows staff: they are not signed in there.
                expected = 401 if isinstance(rule, DeviceAccess | MetricsScrape) else 403
                assert response.status_code == expected, f"{role} {method} {route.path}"
                checked += 1
        assert checked > 40

    def test_a_device_is_refused_on_every_staff_route(
        self, app: FastAPI, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        for route, method, rule in _routes(app):
            if isinstance(rule, Public | DeviceAccess):
                continue
            url = _url(route)
            response = _call(client, method, url, enrolled.auth(method, url, now=clock()))
            assert response.status_code == 401, f"device {method} {route.path}"

    def test_refusals_say_which_credential_is_missing(self, client: TestClient) -> None:
        staff = client.get("/api/v1/devices")
        device = client.post("/api/v1/device/checkin", json={"posture": {}})
        assert (staff.status_code, staff.json()["error"]) == (401, "unauthenticated")
        assert "access token" in staff.json()["detail"]
        assert (device.status_code, device.json()["error"]) == (401, "invalid_device_assertion")
        assert "device assertion" in device.json()["detail"]

    def test_allowed_roles_get_through(self, app: FastAPI, client: TestClient) -> None:
        auditor = headers_for(app, "auditor")
        assert client.get("/api/v1/devices", headers=auditor).status_code == 200
        assert client.get("/api/v1/users", headers=auditor).status_code == 403


class TestAppCatalogueAccess:
    def test_it_administrators_change_the_catalogue_and_auditors_only_read_it(
        self, app: FastAPI
    ) -> None:
        rules = {
            f"{method} {route.path}": rule.roles
            for route, method, rule in _routes(app)
            if route.path.startswith("/api/v1/apps")
        }
        readers, it_only = {"it_admin", "auditor"}, {"it_admin"}
        assert rules == {
            "POST /api/v1/apps": it_only,
            "GET /api/v1/apps": readers,
            "GET /api/v1/apps/{package}": readers,
            "GET /api/v1/apps/{package}/versions/{version_code}/apk": it_only,
            "POST /api/v1/apps/{package}/signer/accept": it_only,
            "POST /api/v1/apps/{package}/signer/approve": it_only,
            "POST /api/v1/apps/{package}/signer/refuse": it_only,
        }
