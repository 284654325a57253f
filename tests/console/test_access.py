"""Deny by default in the console: every page declares who may open it, with the roles of the
API route it stands for; without a session it is sign-in, with the wrong role it is 403."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.auth.roles import STAFF_ROLES
from mdm_server.console.access import ConsoleAccess
from mdm_server.deps import DeclaredRoute, Public, declared_routes
from tests.console.conftest import Browser


def console_routes(app: FastAPI) -> list[tuple[DeclaredRoute, str]]:
    found = []
    for route in declared_routes(app):
        if route.path.startswith("/console"):
            for method in sorted(route.methods):
                found.append((route, method))
    return found


def url_of(route: DeclaredRoute) -> str:
    filled = route.path
    for name in route.param_names:
        filled = filled.replace("{" + name + "}", str(uuid.uuid4()))
    return filled


def test_every_console_route_declares_one_rule_and_only_sign_in_is_public(app: FastAPI) -> None:
    routes = console_routes(app)
    assert len(routes) > 30
    public = sorted(f"{m} {r.path}" for r, m in routes if isinstance(r.rules[0], Public))
    assert public == [
        "GET /console/login",
        "GET /console/sso/callback",
        "GET /console/sso/start",
        "POST /console/login",
        "POST /console/login/code",
        "POST /console/login/passkey",
        "POST /console/login/passkey/options",
    ]
    for route, _ in routes:
        (rule,) = route.rules
        assert isinstance(rule, Public | ConsoleAccess), route.path
        assert isinstance(rule, Public) or rule.roles, route.path


def test_without_a_session_every_page_sends_you_to_sign_in(app: FastAPI) -> None:
    client = TestClient(app, follow_redirects=False)
    for route, method in console_routes(app):
        if isinstance(route.rules[0], Public):
            continue
        response = client.request(method, url_of(route))
        assert response.status_code == 303, f"{method} {route.path}"
        assert response.headers["location"].startswith("/console/login?next=")


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_each_role_gets_403_wherever_its_role_is_not_allowed(
    app: FastAPI, browser_for: Callable[..., Browser], role: str
) -> None:
    browser = browser_for(role)
    browser.get("/console/password")  # any page, for the session's CSRF token
    refused = 0
    for route, method in console_routes(app):
        rule = route.rules[0]
        if isinstance(rule, Public) or role in rule.roles:
            continue
        response = browser.client.request(
            method, url_of(route), headers={"X-CSRF-Token": browser.csrf}
        )
        assert response.status_code == 403, f"{role} {method} {route.path}: {response.text[-300:]}"
        refused += 1
    assert refused > 5


def test_releases_are_run_by_it_administrators_and_read_by_auditors_only(app: FastAPI) -> None:
    rules = {
        f"{method} {route.path}": set(route.rules[0].roles)  # type: ignore[union-attr]
        for route, method in console_routes(app)
        if "/releases" in route.path
    }
    readers, it_only = {"it_admin", "auditor"}, {"it_admin"}
    assert rules == {
        "GET /console/releases/{release_id}": readers,
        "POST /console/apps/{package}/releases": it_only,
        "POST /console/releases/{release_id}/halt": it_only,
        "POST /console/releases/{release_id}/{action}": it_only,
    }
