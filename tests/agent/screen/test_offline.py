"""The screen offline: the PIN opens the container with no signal, OPTIK says until when
offline use lasts, a search says it needs the server, a report is kept as a draft, and once
the server is back the next entry sends it and lists it as sent while the officer was offline.
Who may see these pages: only the WebView holding the launch's cookie (tests/agent/screen/
test_guard.py proves everyone else is refused)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from device_agent.agent import Agent
from device_agent.screen.app import Screen
from device_agent.screen.guard import Launch
from device_agent.screen.web import create_app
from mdm_server.db import Database
from tests.agent.screen.test_pages import post, text
from tests.agent.signal import Signal
from tests.agent.test_drafts import filed
from tests.agent.test_secure_side import Device, policy, run
from tests.factories.secure import NEW_PIN, PIN
from tests.server.test_policies import put_policy

REPORT_FORM = {
    "purpose": "INVESTIGATION",
    "summary": "Shed broken into; bicycle taken",
    "location": "Sample Road, Testbury",
    "occurred_at": "2026-11-21T02:10",
    "category": "crime",
}


@pytest.fixture
def agent(reports_device: Device, signal: Signal) -> Iterator[Agent]:
    """An officer who entered online once (so the offline key is kept), and left."""
    agent = Agent(reports_device.state, transport=signal, clock=reports_device.clock)
    run(agent.check_in())
    run(agent.enter(collar=reports_device.collar, pin=PIN, new_pin=NEW_PIN))
    run(agent.leave())
    yield agent
    agent.close()


@pytest.fixture
def screen(agent: Agent) -> Iterator[tuple[TestClient, Launch]]:
    launch = Launch(4321)
    with TestClient(create_app(Screen(agent, launch)), base_url="http://127.0.0.1:4321") as client:
        client.get("/launch", params={"key": launch.secret}, follow_redirects=False)
        yield client, launch
        post(client, launch, "/leave")


class TestOffline:
    def test_a_report_kept_offline_is_sent_at_the_next_entry_and_listed(
        self,
        screen: tuple[TestClient, Launch],
        reports_device: Device,
        signal: Signal,
        database: Database,
    ) -> None:
        client, launch = screen
        signal.up = False
        opened = post(client, launch, "/enter", collar=reports_device.collar, pin=NEW_PIN)
        assert opened.url.path == "/secure"
        words = text(opened.text)
        until = r"(?:\d{1,2} [A-Z][a-z]{2} \d{4} )?\d\d:\d\d:\d\d [A-Z]+\b"  # a date past midnight
        assert re.search(f"Offline use lasts until {until}", words), words
        search = post(client, launch, "/secure/person", purpose="INVESTIGATION", surname="Example")
        assert search.status_code == 503
        assert "Searches need the server" in text(search.text)
        kept = post(client, launch, "/secure/report", **REPORT_FORM)
        assert kept.status_code == 200, kept.text
        assert "kept as a draft; it will be sent when the server is back" in text(kept.text)
        home = text(client.get("/secure").text)
        assert "1 report waits as a draft for the server" in home
        assert filed(database) == []
        post(client, launch, "/leave")
        signal.up = True
        back = post(client, launch, "/enter", collar=reports_device.collar, pin=NEW_PIN)
        [report] = filed(database)
        words = text(back.text)
        assert "Sent while you were offline" in words
        assert f"filed as {report.reference}" in words
        assert "Offline use lasts" not in words
        assert signal.transactions == 1

    def test_a_sent_draft_sampled_for_justification_asks_on_optik_until_answered(
        self,
        screen: tuple[TestClient, Launch],
        reports_device: Device,
        signal: Signal,
        admin_headers: dict[str, str],
    ) -> None:
        sampled = policy(8)
        sampled["appropriate_use"]["justification_sample_rate"] = 1
        sampled["appropriate_use"]["transaction_types"]["incident_report"] = {
            "purposes": ["INVESTIGATION"]
        }
        assert put_policy(reports_device.client, admin_headers, sampled).status_code < 300
        client, launch = screen
        signal.up = False
        post(client, launch, "/enter", collar=reports_device.collar, pin=NEW_PIN)
        post(client, launch, "/secure/report", **REPORT_FORM)
        post(client, launch, "/leave")
        signal.up = True
        back = post(client, launch, "/enter", collar=reports_device.collar, pin=NEW_PIN)
        assert "Further justification needed" in text(back.text)
        request_id = re.search(r'name="id" value="([^"]+)"', back.text)
        assert request_id is not None
        answered = post(
            client,
            launch,
            "/secure/justify",
            id=request_id.group(1),
            answer="Burglary reported by the owner at the scene",
        )
        assert answered.status_code == 200, answered.text
        home = text(client.get("/secure").text)
        assert "Sent while you were offline" in home
        assert "Further justification needed" not in home
