"""Roles named in people's words, on pages, in the API's messages and in the CLI's; and the
pages that refuse or find nothing, in the console's own furniture for whoever is signed in."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.auth.roles import STAFF_ROLES, role_name, roles_in_words
from mdm_server.cli.commands import second_approver_needed
from mdm_server.console.navigation import HOME, menu_for
from tests.console.conftest import Browser
from tests.console.test_pages import PAGES
from tests.console.test_plain_words import in_words
from tests.factories.devices import SimulatedDevice
from tests.factories.staff import headers_for

CODES = re.compile(r"\b(it_admin|it admin)\b")


def nav_of(page: str) -> list[str]:
    """The labels of the page's main menu."""
    found = re.search(r'<nav aria-label="Main">(.*?)</nav>', page, flags=re.S)
    return re.findall(r">([^<>]+)</a>", found.group(1)) if found else []


class TestRoleWords:
    def test_each_role_has_words_for_one_several_and_with_its_article(self) -> None:
        assert role_name("it_admin").one == "IT administrator"
        assert role_name("it_admin").title == "IT administrator"
        assert role_name("auditor").title == "Auditor"
        assert role_name("officer").a == "an officer"
        assert roles_in_words({"auditor", "it_admin"}) == "IT administrators and auditors"
        for role in STAFF_ROLES:
            assert "_" not in role_name(role).one

    @pytest.mark.parametrize("role", ["it_admin", "auditor", "supervisor", "officer"])
    def test_no_page_names_a_role_by_its_code(
        self, browser_for: Callable[..., Browser], role: str
    ) -> None:
        browser = browser_for(role)
        for path in PAGES:
            page = browser.get(path).text
            text = in_words(page)
            assert not CODES.search(text), (role, path, CODES.search(text))
            badge = re.search(r'<span class="role">([^<]*)</span>', page)
            assert badge is not None and badge.group(1) == role_name(role).title, (path, badge)

    def test_the_device_page_says_a_second_it_administrator_approves(
        self, browser_for: Callable[..., Browser], enrolled: SimulatedDevice
    ) -> None:
        page = browser_for("it_admin").get(f"/console/devices/{enrolled.device_id}").text
        text = in_words(page)
        assert "Factory reset. Needs a second IT administrator's approval." in text
        assert "A second IT administrator approves." in text
        assert "it_admin" not in text

    def test_the_api_says_which_roles_a_route_is_for_in_words(
        self, app: FastAPI, client: TestClient
    ) -> None:
        refused = client.get("/api/v1/devices", headers=headers_for(app, "officer"))
        assert refused.status_code == 403
        assert refused.json()["error"] == "forbidden"  # the code stays, for programs
        detail = refused.json()["detail"]
        assert detail == (
            "this is for IT administrators and auditors only; you are signed in as an officer"
        )

    def test_the_requester_of_a_full_wipe_is_told_a_second_administrator_approves(
        self, app: FastAPI, client: TestClient, enrolled: SimulatedDevice
    ) -> None:
        admin = headers_for(app, "it_admin")
        body = {"type": "wipe_device", "target": {"device": str(enrolled.device_id)}}
        sent = client.post("/api/v1/commands", json={**body, "reason": "seized"}, headers=admin)
        (command,) = sent.json()["commands"]
        own = client.post(f"/api/v1/commands/{command['id']}/approve", headers=admin)
        assert own.status_code == 403
        assert own.json()["detail"].startswith("wipe device needs a second IT administrator")

    def test_the_cli_says_a_second_it_administrator_must_approve(self) -> None:
        said = second_approver_needed("3f2a9c1d")
        assert said == "A second IT administrator must approve it: tabard commands approve 3f2a9c1d"


class TestRefusedPage:
    """DESIGN.md: deny by default. A refusal still shows who is signed in, their menu and a
    way out, and says plainly that the page is for another role."""

    @pytest.mark.parametrize("role", ["it_admin", "auditor", "supervisor", "officer"])
    def test_a_page_for_another_role_keeps_the_menu_and_says_whose_page_it_is(
        self, browser_for: Callable[..., Browser], role: str
    ) -> None:
        browser = browser_for(role)
        path, allowed = next((p, a) for p, a in PAGES.items() if role not in a)
        refused = browser.get(path)
        assert refused.status_code == 403
        page = refused.text
        assert nav_of(page) == [item.label for item in menu_for(role)]
        assert browser.user.username in page
        assert 'action="/console/logout"' in page and ">Sign out</button>" in page
        text = in_words(page)
        assert "This page is not for your role" in text
        assert f"This page is for {roles_in_words(allowed)} only" in text
        assert f"you are signed in as {role_name(role).a}." in text
        home = re.search(r'<a href="([^"]+)" data-home>([^<]+)</a>', page)
        assert home is not None and home.group(1) == HOME[role]

    def test_the_officer_refused_the_fleet_page_is_sent_to_their_own_device(
        self, browser_for: Callable[..., Browser]
    ) -> None:
        page = browser_for("officer").get("/console/fleet").text
        text = in_words(page)
        assert "This page is for IT administrators and auditors only" in text
        assert "Your pages start at My device" in text
        assert nav_of(page) == ["My device", "My usage"]


class TestMissingPage:
    def test_a_missing_page_keeps_the_menu_and_says_so_in_words(
        self, browser_for: Callable[..., Browser]
    ) -> None:
        browser = browser_for("auditor")
        missing = browser.get("/console/no-such-page")
        assert missing.status_code == 404
        text = in_words(missing.text)
        assert "Page not found" in text
        assert "There is no page at this address" in text
        assert "no route" not in text
        assert nav_of(missing.text) == [item.label for item in menu_for("auditor")]
        assert ">Sign out</button>" in missing.text

    def test_a_record_not_found_keeps_the_menu_and_reads_as_a_sentence(
        self, browser_for: Callable[..., Browser]
    ) -> None:
        browser = browser_for("it_admin")
        missing = browser.get("/console/devices/00000000-0000-4000-8000-000000000000")
        assert missing.status_code == 404
        message = re.search(r'<p class="alert" role="alert">([^<]*)</p>', missing.text)
        assert message is not None
        assert message.group(1)[0].isupper() and message.group(1).endswith(".")
        assert nav_of(missing.text) == [item.label for item in menu_for("it_admin")]

    def test_signed_out_a_missing_page_offers_the_console_and_no_menu(
        self, client: TestClient
    ) -> None:
        missing = client.get("/console/no-such-page")
        assert missing.status_code == 404
        assert nav_of(missing.text) == []
        assert "Sign out" not in missing.text
        assert 'href="/console">Go to the console</a>' in missing.text
