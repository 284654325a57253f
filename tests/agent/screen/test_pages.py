"""The screen's pages against the agent and an in-process server: the button walks the real
gate (first-entry PIN change included), a search asks for the policy's purpose, leaving
clears the browser's storage and lands on a page without police data, and refusals are
sentences."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from device_agent.agent import Agent
from device_agent.screen.app import Screen
from device_agent.screen.guard import Launch
from device_agent.screen.web import create_app
from tests.agent.test_secure_side import Device, run
from tests.factories.secure import NEW_PIN, PIN


@pytest.fixture
def agent(online_only_device: Device) -> Iterator[Agent]:
    agent = online_only_device.agent()
    run(agent.check_in())
    yield agent
    agent.close()


@pytest.fixture
def screen(agent: Agent) -> Iterator[tuple[TestClient, Launch]]:
    launch = Launch(4321)
    app = create_app(Screen(agent, launch))
    with TestClient(app, base_url="http://127.0.0.1:4321") as client:
        answer = client.get("/launch", params={"key": launch.secret}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        yield client, launch
        post(client, launch, "/leave")  # the container closes in the thread that opened it


def post(client: TestClient, launch: Launch, path: str, **fields: str):  # type: ignore[no-untyped-def]
    return client.post(
        path, data={"csrf": launch.csrf, **fields}, headers={"Origin": "http://127.0.0.1:4321"}
    )


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


class TestThePages:
    def test_first_entry_changes_the_pin_then_opens_optik(
        self, screen: tuple[TestClient, Launch], online_only_device: Device, agent: Agent
    ) -> None:
        client, launch = screen
        home = client.get("/")
        assert "Compliant" in home.text and "Enter the secure side" in home.text
        asked = post(client, launch, "/enter", collar=online_only_device.collar, pin=PIN)
        assert "Choose your own PIN" in asked.text
        assert PIN not in asked.text  # the PIN waits in the agent, not in the page
        mismatch = post(client, launch, "/enter/new-pin", new_pin=NEW_PIN, confirm="111")
        assert mismatch.status_code == 422 and "not the same" in mismatch.text
        opened = post(client, launch, "/enter/new-pin", new_pin=NEW_PIN, confirm=NEW_PIN)
        assert opened.url.path == "/secure"
        assert agent.secure.open is not None
        assert "Person search" in opened.text and "Leave" in opened.text

    def test_a_search_asks_for_the_policys_purpose_and_shows_its_result(
        self, screen: tuple[TestClient, Launch], online_only_device: Device, agent: Agent
    ) -> None:
        client, launch = screen
        post(client, launch, "/enter", collar=online_only_device.collar, pin=PIN)
        post(client, launch, "/enter/new-pin", new_pin=NEW_PIN, confirm=NEW_PIN)
        form = client.get("/secure/person")
        assert '<option value="INVESTIGATION"' in form.text
        assert form.headers["cache-control"] == "no-store"
        unpurposed = post(client, launch, "/secure/person", purpose="FUN", surname="Example")
        assert unpurposed.status_code == 422 and "purpose" in text(unpurposed.text)
        found = post(
            client,
            launch,
            "/secure/person",
            purpose="INVESTIGATION",
            surname="Example",
            forename="Sam",
        )
        assert found.status_code == 200, found.text
        assert "EXAMPLE" in found.text and "found" in found.text
        not_allowed = client.get("/secure/vehicle")
        assert "does not allow" in not_allowed.text

    def test_leaving_clears_site_data_and_shows_no_police_data(
        self, screen: tuple[TestClient, Launch], online_only_device: Device, agent: Agent
    ) -> None:
        client, launch = screen
        post(client, launch, "/enter", collar=online_only_device.collar, pin=PIN)
        post(client, launch, "/enter/new-pin", new_pin=NEW_PIN, confirm=NEW_PIN)
        post(client, launch, "/secure/person", purpose="INVESTIGATION", surname="Example")
        left = client.post(
            "/leave",
            data={"csrf": launch.csrf},
            headers={"Origin": "http://127.0.0.1:4321"},
            follow_redirects=False,
        )
        assert left.status_code == 303
        assert left.headers["clear-site-data"] == '"cache", "storage"'
        landed = client.get(left.headers["location"])
        assert "You left the secure side at" in landed.text
        assert "example" not in landed.text.lower()  # nothing of the search
        assert agent.secure.open is None
        assert client.get("/secure/person", follow_redirects=False).status_code == 303
        assert client.get("/state").json()["secure_side"] == "locked"

    def test_a_wrong_pin_is_a_sentence_with_tries_left(
        self, screen: tuple[TestClient, Launch], online_only_device: Device
    ) -> None:
        client, launch = screen
        wrong = post(client, launch, "/enter", collar=online_only_device.collar, pin="999999")
        assert wrong.status_code == 401
        assert "The collar number or PIN is wrong" in wrong.text
        assert "left before the PIN locks" in wrong.text
        assert "invalid_pin" not in wrong.text


def entered(client: TestClient, launch: Launch, device: Device) -> None:
    post(client, launch, "/enter", collar=device.collar, pin=PIN)
    post(client, launch, "/enter/new-pin", new_pin=NEW_PIN, confirm=NEW_PIN)


class TestLocking:
    def test_the_page_follows_the_agents_inactivity_lock(
        self, screen: tuple[TestClient, Launch], online_only_device: Device, agent: Agent
    ) -> None:
        client, launch = screen
        entered(client, launch, online_only_device)
        before = client.get("/state").json()
        assert before["secure_side"] == "open" and before["seconds_left"] > 60
        side = agent.secure.require_open()
        online_only_device.clock.now = side.last_activity + side.inactivity
        client.portal.call(agent.lock_if_due)  # what the daemon's lock loop does each second
        after = client.get("/state").json()
        assert after["secure_side"] == "locked"
        assert "because it was not used for a while" in after["message"]
        assert client.get("/secure", follow_redirects=False).headers["location"] == "/locked"

    def test_the_state_poll_is_not_activity_but_a_page_is(
        self, screen: tuple[TestClient, Launch], online_only_device: Device, agent: Agent
    ) -> None:
        client, launch = screen
        entered(client, launch, online_only_device)
        side = agent.secure.require_open()
        started = side.last_activity
        online_only_device.clock.now = started + (side.inactivity / 2)
        client.get("/state")
        assert side.last_activity == started
        client.get("/secure")
        assert side.last_activity == online_only_device.clock.now


class TestForms:
    def test_a_missing_field_is_named_and_an_unknown_app_is_not_found(
        self, screen: tuple[TestClient, Launch], online_only_device: Device, agent: Agent
    ) -> None:
        client, launch = screen
        entered(client, launch, online_only_device)
        refused = post(client, launch, "/secure/person", purpose="INVESTIGATION")
        assert refused.status_code == 422 and "Enter the surname." in refused.text
        missing = client.get("/secure/nothing")
        assert missing.status_code == 404
