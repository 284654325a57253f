"""Every answer carries `X-Content-Type-Options: nosniff`; every API answer carries
`Cache-Control: no-store`, except public material the middleware names (the device CA and
the audit verifier key), and then only when it succeeds."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from mdm_server.db import Database
from mdm_server.deps import PUBLIC, declared_routes
from mdm_server.main import create_app
from mdm_server.middleware import CACHEABLE
from tests.conftest import FakeClock, make_settings
from tests.factories.staff import PASSWORD, create_staff, headers_for

BODY_METHODS = {"POST", "PUT", "PATCH"}


def every_route(app: FastAPI) -> list[tuple[str, str]]:
    """(method, URL) for every API route, path parameters filled with a plausible value."""
    found = []
    for route in declared_routes(app):
        if not route.path.startswith("/api/"):
            continue
        url = route.path
        for name in route.param_names:
            url = url.replace("{" + name + "}", "1")
        found.extend((method, url) for method in sorted(route.methods - {"HEAD"}))
    return found


def call(client: TestClient, method: str, url: str, headers: dict[str, str]) -> Response:
    body = {"json": {}} if method in BODY_METHODS else {}
    return client.request(method, url, headers=headers, **body)  # type: ignore[arg-type]


def assert_api_headers(response: Response, path: str) -> None:
    assert response.headers.get_list("x-content-type-options") == ["nosniff"], path
    expected = CACHEABLE.get(path, b"no-store").decode() if response.is_success else "no-store"
    assert response.headers.get_list("cache-control") == [expected], (path, response.status_code)


class TestEveryApiRoute:
    def test_the_route_list_covers_the_api(self, app: FastAPI) -> None:
        routes = every_route(app)
        assert len(routes) > 80
        assert ("POST", "/api/v1/auth/login") in routes

    @pytest.mark.parametrize("role", ["it_admin", "auditor", "officer", None])
    def test_every_answer_is_no_store_and_nosniff(
        self, app: FastAPI, client: TestClient, role: str | None
    ) -> None:
        headers = headers_for(app, role) if role else {}
        statuses = set()
        for method, url in every_route(app):
            if url == "/api/v1/device/commands":
                continue  # a long poll; refused at once below without a device assertion
            response = call(client, method, url, headers)
            statuses.add(response.status_code)
            assert_api_headers(response, url)
        # Both kinds of answer were seen: successes and refusals.
        assert 200 in statuses and any(status >= 400 for status in statuses), statuses

    def test_tokens_from_login_are_not_stored(self, app: FastAPI, client: TestClient) -> None:
        user = create_staff(app, role="supervisor")
        response = client.post(
            "/api/v1/auth/login", json={"username": user.username, "password": PASSWORD}
        )
        assert response.status_code == 200
        assert "access_token" in response.json()
        assert response.headers["cache-control"] == "no-store"

    def test_public_material_may_be_cached(self, client: TestClient) -> None:
        for path in ("/api/v1/ca", "/api/v1/audit/verifier-key"):
            response = client.get(path)
            assert response.status_code == 200
            assert response.headers["cache-control"] == "public, max-age=300"
            assert response.headers["x-content-type-options"] == "nosniff"

    def test_a_long_poll_refused_is_no_store(self, client: TestClient) -> None:
        assert_api_headers(client.get("/api/v1/device/commands"), "/api/v1/device/commands")


class TestAnswersMadeOutsideTheRoutes:
    def test_unknown_routes_and_methods(self, client: TestClient) -> None:
        assert_api_headers(client.get("/api/v1/nothing-here"), "/api/v1/nothing-here")
        assert_api_headers(client.delete("/api/v1/health"), "/api/v1/health")

    def test_a_body_too_large(self, tmp_path: Path, database: Database, clock: FakeClock) -> None:
        settings = make_settings(tmp_path / "small", max_body_bytes=4096)
        app = create_app(settings, database=database, clock=clock)
        with TestClient(app) as client:
            response = client.post("/api/v1/auth/login", content=b"x" * 5000)
        assert response.status_code == 413
        assert_api_headers(response, "/api/v1/auth/login")

    def test_a_crash(self, app: FastAPI) -> None:
        def explode() -> None:
            raise RuntimeError("boom")

        app.add_api_route("/api/v1/explode", explode, dependencies=[Depends(PUBLIC)])
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get("/api/v1/explode")
        assert response.status_code == 500
        assert_api_headers(response, "/api/v1/explode")
        assert response.headers["x-request-id"]

    def test_the_api_reference_and_console_say_nosniff_once(self, client: TestClient) -> None:
        for path in ("/openapi.json", "/docs", "/console/login"):
            response = client.get(path)
            assert response.headers.get_list("x-content-type-options") == ["nosniff"], path
