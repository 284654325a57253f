"""A retired or wiped device on IT's console pages reads as out of service, not as the
compliance it last had; a lost one reads as lost, its compliance only as last known."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.console.templating import when
from tests.conftest import FakeClock
from tests.console.cells import column, fact
from tests.console.conftest import Browser
from tests.factories.devices import SimulatedDevice
from tests.server.test_out_of_service import in_grace, take_out_of_service
from tests.server.test_secure import Scene

BADGE = re.compile(r'<span class="badge [a-z]+">([a-z ]+)</span>')


def test_a_retired_device_shows_not_applicable_on_its_page_and_in_the_list(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
    browser_for: Callable[..., Browser],
) -> None:
    in_grace(client, admin_headers, enrolled, clock)
    take_out_of_service("retired", app, client, admin_headers, enrolled, clock)
    browser = browser_for("it_admin")
    page = browser.get(f"/console/devices/{enrolled.device_id}").text
    listing = browser.get("/console/devices").text
    for html in (page, listing):
        badges = BADGE.findall(html)
        assert "not applicable" in badges
        assert "in grace" not in badges


def test_a_lost_device_reads_as_lost_since_when_and_by_whom_wherever_its_state_shows(
    scene: Scene, app: FastAPI, clock: FakeClock, browser_for: Callable[..., Browser]
) -> None:
    officer = Browser(TestClient(app, follow_redirects=False))
    assert officer.sign_in(scene.officer.username).status_code == 303
    officer.get("/console/me")
    reported_at = clock()
    reported = officer.post("/console/me/lost", {"device": str(scene.device.device_id)})
    assert reported.status_code == 303
    clock.advance(minutes=5)
    lost = f"lost since {when(reported_at)}"
    by = f"{lost}, reported by {scene.officer.username}"
    it = browser_for("it_admin")
    page = it.get(f"/console/devices/{scene.device.device_id}").text
    listing = it.get("/console/devices").text
    assert fact(page, "State") == by
    assert column(listing, "State") == [by]
    assert fact(officer.get("/console/me").text, "State") == lost
    facts = re.search(r'<dl class="facts">.*?</dl>', page, re.S)
    assert facts is not None
    for html in (facts.group(0), listing):
        assert 'data-device-state="lost"' in html
        badges = BADGE.findall(html)
        assert "active" not in badges
        assert "compliant" in badges  # what it last reported, shown as no more than that
        assert '<span class="badge good">compliant</span>' not in html
    assert fact(page, "Compliance") == "compliant (last known)"
    assert column(listing, "Compliance") == ["compliant last known"]
