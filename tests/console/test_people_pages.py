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
        assert "person search" in usage.text
        assert "INVESTIGATION" in usage.text
        me = browser.get("/console/me")
        assert "Version <strong>2026.2</strong>, which you have acknowledged" in me.text


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
        figure = re.search(
            r'<span class="figure">(\d+)</span><span class="label">transactions, last 24 h',
            page.text,
        )
        assert figure and figure.group(1) == "3"
        assert "Alpha" not in page.text
        other = browser_for("supervisor", division="elsewhere").get("/console/demand")
        figure = re.search(
            r'<span class="figure">(\d+)</span><span class="label">transactions, last 24 h',
            other.text,
        )
        assert figure and figure.group(1) == "0"
