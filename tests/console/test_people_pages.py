"""Officers' and supervisors' console pages."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.db import Database
from tests.console.conftest import Browser
from tests.server.test_audit_search import person
from tests.server.test_secure import Scene
from tests.support import audit_events


def tile(html: str, label: str) -> str:
    """The figure on the page's tile with this label."""
    found = re.search(
        rf'<span class="figure">([\d,]+)</span><span class="label">{re.escape(label)}</span>', html
    )
    assert found, f"no tile {label!r}"
    return found.group(1)


class TestOfficer:
    def test_reports_their_device_lost_and_its_key_is_destroyed(
        self, scene: Scene, app: FastAPI, database: Database
    ) -> None:
        browser = Browser(TestClient(app, follow_redirects=False))
        assert browser.sign_in(scene.officer.username).status_code == 303
        page = browser.get("/console/me")
        assert scene.device.serial in page.text
        assert "Report this device lost" in page.text
        reported = browser.post(
            "/console/me/lost", {"device": str(scene.device.device_id), "note": "left on a bus"}
        )
        assert reported.status_code == 303
        after = browser.get(reported.headers["location"])
        assert 'data-lost="reported"' in after.text
        assert "Report this device lost" not in after.text
        assert len(audit_events(database, "device.reported_lost")) == 1

    def test_sees_their_own_usage_and_the_policy_they_acknowledged(
        self, scene: Scene, app: FastAPI
    ) -> None:
        token = str(scene.first_entry()["session_token"])
        assert scene.transact(token, person("Example", "Sam")).status_code == 200
        browser = Browser(TestClient(app, follow_redirects=False))
        browser.sign_in(scene.officer.username)
        usage = browser.get("/console/me/usage")
        assert "<td>Person search</td>" in usage.text
        assert "INVESTIGATION" in usage.text
        me = browser.get("/console/me")
        assert "Version <strong>2026.2</strong>, which you have acknowledged" in me.text

    def test_an_entry_the_server_and_the_device_both_recorded_is_one_row(
        self, scene: Scene, app: FastAPI, client: TestClient
    ) -> None:
        from tests.server.test_device_events import event, upload

        sid = str(scene.first_entry()["session_id"])
        copy = event(1, detail={"collar_number": scene.officer.collar_number, "session_id": sid})
        assert upload(client, scene.device, [copy], scene.clock()).status_code == 200
        browser = Browser(TestClient(app, follow_redirects=False))
        browser.sign_in(scene.officer.username)
        usage = browser.get("/console/me/usage").text
        rows = re.findall(r"<td>(Entered the secure side[^<]*)", usage)
        assert rows == ["Entered the secure side"]
        assert usage.count("data-device-record") == 1
        assert "also recorded by your device" in usage


class TestSupervisor:
    def test_sees_the_demand_of_their_own_division(
        self, scene: Scene, browser_for: Callable[..., Browser]
    ) -> None:
        token = str(scene.first_entry()["session_token"])
        for surname in ("Alpha", "Beta", "Gamma"):
            assert scene.transact(token, person(surname)).status_code == 200
        mine = browser_for("supervisor", division=scene.officer.division)
        page = mine.get("/console/demand")
        assert page.status_code == 200
        assert "person search" in page.text
        assert tile(page.text, "transactions answered, last 24 h") == "3"
        assert "Alpha" not in page.text
        other = browser_for("supervisor", division="elsewhere").get("/console/demand")
        assert tile(other.text, "transactions answered, last 24 h") == "0"

    def test_refused_transactions_are_shown_apart_and_never_counted(
        self, scene: Scene, browser_for: Callable[..., Browser]
    ) -> None:
        token = str(scene.first_entry()["session_token"])
        assert scene.transact(token, person("Alpha")).status_code == 200
        refused = {**person("Beta"), "purpose": "ROAD_TRAFFIC"}  # not a person-search purpose
        assert scene.transact(token, refused).status_code == 403
        page = browser_for("supervisor", division=scene.officer.division).get("/console/demand")
        assert (
            tile(page.text, "transaction answered, last 24 h") == "1"
        )  # one, not "1 transactions"
        assert tile(page.text, "transaction answered, last 14 days") == "1"
        assert tile(page.text, "refused by policy, last 14 days (not counted)") == "1"
        assert (
            "Answered transactions per hour, last 24 hours, beside the same hours last week. "
            "1 in all" in page.text
        )
        assert "refused (not counted): 1 in all" in page.text
        now = scene.clock()
        this_hour = now.strftime("%a %d %b, %H:00") + " UTC, so far"  # not over yet
        last_row = re.findall(r"<tr><td class=\"nowrap\">([^<]+)</td>", page.text)[23]
        assert last_row == this_hour  # the hour table runs oldest first: the current hour last
