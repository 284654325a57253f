"""Releases on the console: IT administrators start, widen, halt, resume and roll back a
release from the app's page and the release's own; auditors read them without a form or a
button; the other roles cannot open them. Refusals show as pages saying what to do."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.apps.test_releases import PACKAGE, answer, fleet, start, upload
from tests.conftest import FakeClock
from tests.console.conftest import Browser
from virtual_device.apk import build_apk

FLEET = {"name": "the fleet", "target": {"fleet": True}}
ACTIONS = ("widen", "resume", "rollback")
RELEASE_LINK = re.compile(r'href="/console/releases/([0-9a-f-]{36})"')


@pytest.fixture
def devices(client: TestClient, admin_headers: dict[str, str]) -> list[Any]:
    """Versions 1 and 2 of the app, and four enrolled devices."""
    for code in (1, 2):
        upload(client, admin_headers, build_apk(PACKAGE, version_code=code))
    return fleet(client, admin_headers, 4, "response")


def started(browser: Browser, **form: str) -> str:
    """Start a release from the app's page; the release page it lands on."""
    browser.get(f"/console/apps/{PACKAGE}")
    response = browser.post(f"/console/apps/{PACKAGE}/releases", {"version_code": "2", **form})
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def refusals(browser: Browser, release: str) -> set[int]:
    """What each of the release's forms answers `browser`."""
    answers = {browser.post(f"{release}/{action}").status_code for action in ACTIONS}
    answers.add(browser.post(f"{release}/halt", {"reason": "looked wrong"}).status_code)
    answers.add(
        browser.post(f"/console/apps/{PACKAGE}/releases", {"version_code": "2"}).status_code
    )
    return answers


class TestStarting:
    def test_the_app_page_offers_available_versions_and_the_servers_threshold(
        self, browser_for: Callable[..., Browser], devices: list[Any]
    ) -> None:
        page = browser_for("it_admin").get(f"/console/apps/{PACKAGE}").text
        assert "Start a release" in page
        assert '<option value="2">' in page and '<option value="1">' in page
        assert 'placeholder="5"' in page and "the server's default, 5%" in page
        assert "No releases yet." in page

    def test_a_release_started_from_the_form_is_listed_and_shown(
        self, browser_for: Callable[..., Browser], devices: list[Any]
    ) -> None:
        admin = browser_for("it_admin")
        location = started(admin, pilot=f"{devices[0].serial}, {devices[1].serial}", share="50")
        page = admin.get(location).text
        assert "The release is started" in page
        assert "1. pilot" in page and "2. 50% of the fleet" in page and "3. the fleet" in page
        assert 'data-chart="' in page
        assert devices[0].serial in page
        listing = admin.get(f"/console/apps/{PACKAGE}").text
        (release_id,) = set(RELEASE_LINK.findall(listing))
        assert location.startswith(f"/console/releases/{release_id}")
        assert "1 of 3" in listing and 'class="badge info">running' in listing
        assert " UTC" in listing

    def test_a_version_not_in_the_catalogue_is_refused_saying_so(
        self, browser_for: Callable[..., Browser], devices: list[Any]
    ) -> None:
        admin = browser_for("it_admin")
        admin.get(f"/console/apps/{PACKAGE}")
        refused = admin.post(f"/console/apps/{PACKAGE}/releases", {"version_code": "9"})
        assert refused.status_code == 404
        assert "That did not work" in refused.text
        assert "has no version 9 in the catalogue; upload it first" in refused.text
        assert "Traceback" not in refused.text and "{'" not in refused.text

    def test_an_unknown_pilot_device_is_refused_saying_so(
        self, browser_for: Callable[..., Browser], devices: list[Any]
    ) -> None:
        admin = browser_for("it_admin")
        admin.get(f"/console/apps/{PACKAGE}")
        refused = admin.post(
            f"/console/apps/{PACKAGE}/releases", {"version_code": "2", "pilot": "NOSUCH01"}
        )
        assert refused.status_code == 404
        assert "That did not work" in refused.text and "Page not found" not in refused.text
        assert "No device with id or serial &#39;NOSUCH01&#39;." in refused.text


class TestRunning:
    def test_widen_halt_resume_and_roll_back_by_form(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        browser_for: Callable[..., Browser],
        devices: list[Any],
        clock: FakeClock,
    ) -> None:
        first = start(client, admin_headers, version_code=1, stages=[FLEET])
        for device in devices:
            answer(client, device, clock)
        shown = client.get(f"/api/v1/releases/{first.json()['id']}", headers=admin_headers)
        assert shown.json()["state"] == "finished"
        admin = browser_for("it_admin")
        location = started(admin, pilot=devices[0].serial, share="0")
        release = location.split("?")[0]
        answer(client, devices[0], clock, fail="INSTALL_FAILED_INSUFFICIENT_STORAGE")
        page = admin.get(release).text
        assert "INSTALL_FAILED_INSUFFICIENT_STORAGE" in page
        assert "Halted itself" in page  # one of one failed: beyond the 5% threshold
        assert "1 of 1 installs in stage &#39;pilot&#39; failed (100%)" in page
        assert "Resume" in page

        resumed = admin.post(f"{release}/resume")
        assert resumed.status_code == 303, resumed.text
        assert "carries on" in admin.get(resumed.headers["location"]).text
        answer(client, devices[0], clock)

        widened = admin.post(f"{release}/widen")
        assert widened.status_code == 303, widened.text
        page = admin.get(widened.headers["location"]).text
        assert "moved on to its next stage" in page
        assert "Widen to stage" not in page  # at its last stage now

        again = admin.post(f"{release}/widen")
        assert again.status_code == 409
        assert "last stage" in again.text
        assert 'class="menu' in again.text or "<nav" in again.text  # the console's own page

        no_reason = admin.post(f"{release}/halt", {"reason": ""})
        assert no_reason.status_code == 422
        assert "Say why you are halting the release" in no_reason.text
        halted = admin.post(f"{release}/halt", {"reason": "Drivers report crashes"})
        assert halted.status_code == 303, halted.text
        page = admin.get(halted.headers["location"]).text
        assert "Drivers report crashes" in page

        back = admin.post(f"{release}/rollback")
        assert back.status_code == 303, back.text
        page = admin.get(back.headers["location"]).text
        assert "Rolled back" in page, page and 'class="badge bad">rolled back' in page
        assert "Roll back to" not in page and "Resume" not in page


class TestWhoSees:
    def test_auditors_read_without_forms_or_buttons(
        self, browser_for: Callable[..., Browser], devices: list[Any]
    ) -> None:
        release = started(browser_for("it_admin"), pilot=devices[0].serial).split("?")[0]
        auditor = browser_for("auditor")
        app_page = auditor.get(f"/console/apps/{PACKAGE}").text
        assert "Releases" in app_page and "Start a release" not in app_page
        assert f'href="{release}"' in app_page
        page = auditor.get(release)
        assert page.status_code == 200
        assert devices[0].serial in page.text and "1. pilot" in page.text
        for action in ("widen", "halt", "resume", "rollback"):
            assert f"{release}/{action}" not in page.text
        assert "Run it" not in page.text
        assert refusals(auditor, release) == {403}

    @pytest.mark.parametrize("role", ["officer", "supervisor", "missing_persons", "mash"])
    def test_other_roles_cannot_open_or_run_them(
        self, browser_for: Callable[..., Browser], devices: list[Any], role: str
    ) -> None:
        release = started(browser_for("it_admin")).split("?")[0]
        browser = browser_for(role)
        browser.get("/console/password")  # for the session's CSRF token
        assert browser.get(release).status_code == 403
        assert refusals(browser, release) == {403}
