"""The personal side's "Report this device lost", against the server in process: a confirm
page first, then the device's own report; the secure side, open or not, will not open again
until IT marks the device found; a report that cannot reach the server says so in words; and
the page going hidden leaves, saying why."""

from __future__ import annotations

import httpx
from starlette.testclient import TestClient

from device_agent.agent import Agent
from device_agent.screen.guard import Launch
from tests.agent.screen.test_pages import agent, entered, post, screen, text
from tests.agent.test_secure_side import Device, unreachable
from tests.factories.secure import NEW_PIN

__all__ = ["agent", "screen"]  # the fixtures, shared


class TestReportingLost:
    def test_confirmed_it_locks_and_the_secure_side_stays_shut(
        self, screen: tuple[TestClient, Launch], online_only_device: Device, agent: Agent
    ) -> None:
        client, launch = screen
        entered(client, launch, online_only_device)
        home = client.get("/")
        assert 'href="/lost"' in home.text
        asked = client.get("/lost")
        assert "Report this device lost?" in asked.text and agent.secure.open is not None
        reported = post(client, launch, "/lost")
        assert reported.status_code == 200, reported.text
        assert "This device was reported lost at" in text(reported.text)
        assert agent.secure.open is None
        device = online_only_device
        shown = device.client.get(
            f"/api/v1/devices/{agent.record.device_id}", headers=device.admin
        ).json()
        assert shown["lost_at"] is not None
        again = post(client, launch, "/enter", collar=device.collar, pin=NEW_PIN)
        assert "This device is reported lost" in again.text

    def test_unreachable_it_says_so_and_what_else_to_do(
        self, screen: tuple[TestClient, Launch], agent: Agent
    ) -> None:
        client, launch = screen
        working: httpx.AsyncBaseTransport | None = agent.transport
        agent.transport = unreachable()
        try:
            refused = post(client, launch, "/lost")
        finally:
            agent.transport = working
        assert refused.status_code == 503
        words = text(refused.text)
        assert "The server cannot be reached" in words and "control room" in words
        assert "Report this device lost?" in words


class TestSwitchingToThePersonalSide:
    def test_the_page_going_hidden_leaves_saying_why(
        self, screen: tuple[TestClient, Launch], online_only_device: Device, agent: Agent
    ) -> None:
        client, launch = screen
        entered(client, launch, online_only_device)
        left = post(client, launch, "/leave", why="switched_to_personal")
        assert agent.secure.open is None
        assert "when you switched to the personal side" in text(left.text)
        assert agent.status()["last_lock"]["reason"] == "switched_to_personal"
