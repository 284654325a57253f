"""IT's console pages: the device page's commands, assignment and posture, filters, the fleet."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.commands.models import Command
from mdm_server.db import Database
from tests.conftest import FakeClock
from tests.console.conftest import Browser
from tests.factories.devices import SimulatedDevice
from tests.support import audit_events, count


class TestIT:
    def test_the_device_page_says_when_a_copy_of_the_device_was_found_in_use(
        self,
        browser_for: Callable[..., Browser],
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        from tests.server.test_device_events import event, upload

        browser = browser_for("it_admin")
        upload(client, enrolled, [event(1)], clock())
        assert 'id="cloned"' not in browser.get(f"/console/devices/{enrolled.device_id}").text
        upload(client, enrolled, [event(1)], clock())  # another event under the same number
        page = browser.get(f"/console/devices/{enrolled.device_id}").text
        assert 'id="cloned"' in page
        assert "A copy of this device was found in use" in page

    def test_wipes_the_secure_side_from_the_device_page(
        self, browser_for: Callable[..., Browser], enrolled: SimulatedDevice, database: Database
    ) -> None:
        browser = browser_for("it_admin")
        page = browser.get(f"/console/devices/{enrolled.device_id}")
        assert enrolled.serial in page.text
        sent = browser.post(
            f"/console/devices/{enrolled.device_id}/commands",
            {"type": "wipe_secure_side", "reason": "officer left the force"},
        )
        assert sent.status_code == 303
        after = browser.get(sent.headers["location"])
        assert 'data-outcome="queued"' in after.text
        assert ": wipe secure side. It reaches the device" in after.text  # "Sent <time>: ..."
        assert 'data-state="queued"' in after.text
        (event,) = audit_events(database, "command.requested")
        assert event.actor_name == browser.user.username
        assert event.detail["type"] == "wipe_secure_side"

    def test_a_wipe_without_a_reason_is_refused_on_the_page(
        self, browser_for: Callable[..., Browser], enrolled: SimulatedDevice, database: Database
    ) -> None:
        browser = browser_for("it_admin")
        browser.get(f"/console/devices/{enrolled.device_id}")
        response = browser.post(
            f"/console/devices/{enrolled.device_id}/commands", {"type": "wipe_secure_side"}
        )
        assert response.status_code == 400
        assert "reason" in response.text
        assert count(database, Command) == 0

    def test_a_full_wipe_waits_for_a_second_admin(
        self, browser_for: Callable[..., Browser], enrolled: SimulatedDevice, database: Database
    ) -> None:
        first = browser_for("it_admin")
        first.get(f"/console/devices/{enrolled.device_id}")
        sent = first.post(
            f"/console/devices/{enrolled.device_id}/commands",
            {"type": "wipe_device", "reason": "seized phone"},
        )
        assert "waiting for a second IT administrator" in first.get(sent.headers["location"]).text
        queue_page = first.get("/console/commands")
        (command_id,) = set(re.findall(r"/console/commands/([0-9a-f-]{36})", queue_page.text))
        first.get(f"/console/commands/{command_id}")
        own = first.post(f"/console/commands/{command_id}/approve")
        assert own.status_code in (400, 403, 409)
        second = browser_for("it_admin")
        second.get(f"/console/commands/{command_id}")
        approved = second.post(f"/console/commands/{command_id}/approve")
        assert approved.status_code == 303
        assert "queued" in second.get(f"/console/commands/{command_id}").text
        assert len(audit_events(database, "command.approved")) == 1

    def test_assigns_the_device_and_shows_its_posture(
        self,
        app: FastAPI,
        client: TestClient,
        clock: FakeClock,
        browser_for: Callable[..., Browser],
        enrolled: SimulatedDevice,
        database: Database,
    ) -> None:
        from tests.factories.staff import create_staff

        officer = create_staff(app, role="officer")
        browser = browser_for("it_admin")
        page = browser.get(f"/console/devices/{enrolled.device_id}")
        assert "No posture yet" in page.text
        done = browser.post(
            f"/console/devices/{enrolled.device_id}/assignment",
            {"officer": officer.collar_number, "group": "traffic"},
        )
        assert done.status_code == 303
        after = browser.get(done.headers["location"])
        assert f"{officer.username} ({officer.collar_number})" in after.text
        assert "Assignment saved" in after.text
        assert len(audit_events(database, "device.assigned")) == 1
        unknown = browser.post(
            f"/console/devices/{enrolled.device_id}/assignment", {"officer": "999999"}
        )
        assert unknown.status_code == 400
        assert "No officer with collar number 999999." in unknown.text
        nothing = browser.post(f"/console/devices/{enrolled.device_id}/assignment", {})
        assert nothing.status_code == 400
        updated = enrolled.posture(android_version="9", sdk=28, security_patch="2019-08-01")
        assert enrolled.checkin(client, now=clock(), posture=updated).status_code == 200
        posture = browser.get(f"/console/devices/{enrolled.device_id}").text
        assert "<dt>Encrypted</dt><dd>yes</dd>" in posture
        assert "<dt>Android</dt><dd>9 (SDK 28)</dd>" in posture
        assert "<dt>Security patch</dt><dd>2019-08-01</dd>" in posture
        assert "1 personal, 1 work" in posture

    def test_filters_search_and_htmx_fragments(
        self, browser_for: Callable[..., Browser], enrolled: SimulatedDevice
    ) -> None:
        browser = browser_for("it_admin")
        found = browser.get(f"/console/devices?search={enrolled.serial[:6]}&state=active")
        assert enrolled.serial in found.text
        none = browser.get("/console/devices?search=ZZZZ")
        assert enrolled.serial not in none.text
        assert "No device matches" in none.text
        fragment = browser.get("/console/devices", headers={"HX-Request": "true"})
        assert "<html" not in fragment.text
        assert enrolled.serial in fragment.text
        bad = browser.get("/console/devices?compliance=sort-of")
        assert bad.status_code == 400
        assert "Compliance must be one of" in bad.text

    def test_the_fleet_overview_counts_and_draws(
        self, browser_for: Callable[..., Browser], enrolled: SimulatedDevice
    ) -> None:
        page = browser_for("it_admin").get("/console/fleet")
        assert page.text.count('<div class="chart" role="img"') == 6  # drawn by console.js
        assert "Model. SM-J530F: 1" in page.text  # the model chart's accessible name
        assert "7.0: 1" in page.text
