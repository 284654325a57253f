"""A retired or wiped device on IT's console pages reads as out of service, not as the
compliance it last had."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import FakeClock
from tests.console.conftest import Browser
from tests.factories.devices import SimulatedDevice
from tests.server.test_out_of_service import in_grace, take_out_of_service

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
