"""The console's pages per role: who may open what, CSRF on every change, nothing fetched
from elsewhere. Each audience's pages are tested in a file of its own."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from mdm_server.commands.models import Command
from mdm_server.db import Database
from tests.console.conftest import Browser
from tests.factories.devices import SimulatedDevice
from tests.support import count

# Every role's pages, and who may open each (as the API's routes allow).
PAGES = {
    "/console/fleet": {"it_admin", "auditor"},
    "/console/devices": {"it_admin", "auditor"},
    "/console/commands": {"it_admin", "auditor"},
    "/console/tokens": {"it_admin"},
    "/console/policies": {"it_admin", "auditor"},
    "/console/provisioning": {"it_admin"},
    "/console/audit": {"auditor"},
    "/console/audit/bundle": {"auditor"},
    "/console/audit/checkpoints": {"auditor"},
    "/console/flags": {"auditor"},
    "/console/demand": {"supervisor"},
    "/console/map": {"supervisor"},
    "/console/me": {"officer"},
    "/console/me/usage": {"officer"},
}
ROLES = ("it_admin", "auditor", "supervisor", "officer")
EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


class TestWhoMayOpenWhat:
    @pytest.mark.parametrize("role", ROLES)
    def test_each_role_opens_its_pages_and_gets_403_on_the_others(
        self, browser_for: Callable[..., Browser], role: str
    ) -> None:
        browser = browser_for(role)
        for page, allowed in PAGES.items():
            response = browser.get(page)
            expected = 200 if role in allowed else 403
            assert response.status_code == expected, (role, page, response.text[-400:])
            assert response.headers["content-type"].startswith("text/html")
            if expected == 403:
                assert "This page is not for your role" in response.text

    @pytest.mark.parametrize("role", ROLES)
    def test_the_menu_offers_only_pages_the_role_may_open(
        self, browser_for: Callable[..., Browser], role: str
    ) -> None:
        browser = browser_for(role)
        home = browser.client.get("/console", follow_redirects=True)
        assert home.status_code == 200
        nav = home.text.split('<nav aria-label="Main">')[1].split("</nav>")[0]
        offered = set(re.findall(r'href="([^"]+)"', nav))
        assert offered
        for href in offered:
            assert browser.get(href).status_code == 200, (role, href)

    def test_the_api_refuses_a_console_cookie_and_the_console_a_bearer_token(
        self, browser_for: Callable[..., Browser], admin_headers: dict[str, str], client
    ) -> None:
        browser = browser_for("it_admin")
        assert browser.client.get("/api/v1/devices").status_code == 401
        page = client.get("/console/fleet", headers=admin_headers, follow_redirects=False)
        assert page.status_code == 303


class TestPagesAreSelfContained:
    @pytest.mark.parametrize("role", ROLES)
    def test_every_page_fetches_nothing_from_elsewhere_and_carries_the_csp(
        self, browser_for: Callable[..., Browser], role: str
    ) -> None:
        browser = browser_for(role)
        for page, allowed in PAGES.items():
            if role not in allowed:
                continue
            response = browser.get(page)
            assert not EXTERNAL.search(response.text), page
            csp = response.headers["content-security-policy"]
            assert "default-src 'none'" in csp
            assert "script-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert response.headers["cache-control"] == "no-store"

    def test_static_files_are_served_from_the_server_itself(self, client: TestClient) -> None:
        script = client.get("/console/static/vendor/htmx/htmx.min.js")
        assert script.status_code == 200
        assert "htmx" in script.text[:200]
        licence = client.get("/console/static/vendor/htmx/LICENSE")
        assert "Zero-Clause BSD" in licence.text
        assert client.get("/console/static/console.css").status_code == 200


class TestCsrf:
    def test_a_form_post_without_its_token_is_refused_and_changes_nothing(
        self, browser_for: Callable[..., Browser], enrolled: SimulatedDevice, database: Database
    ) -> None:
        browser = browser_for("it_admin")
        target = f"/console/devices/{enrolled.device_id}/commands"
        body = {"type": "lock_device"}
        missing = browser.client.post(target, data=body)
        wrong = browser.client.post(target, data={**body, "csrf_token": "x" * 43})
        other = browser_for("it_admin")
        other.get("/console/fleet")
        borrowed = browser.client.post(target, data={**body, "csrf_token": other.csrf})
        for response in (missing, wrong, borrowed):
            assert response.status_code == 403
            assert "did not come from the console" in response.text
        assert count(database, Command) == 0
        browser.get(f"/console/devices/{enrolled.device_id}")
        header = browser.client.post(target, data=body, headers={"X-CSRF-Token": browser.csrf})
        assert header.status_code == 303
        assert count(database, Command) == 1

    def test_sign_out_needs_the_token_too(self, browser_for: Callable[..., Browser]) -> None:
        browser = browser_for("officer")
        assert browser.client.post("/console/logout").status_code == 403
        assert browser.get("/console/me").status_code == 200
