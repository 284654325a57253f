"""The division map on the phone's secure side: a Map entry on OPTIK's home, the officer's own
division fetched over the device channel and drawn as SVG (shapes by kind, density), no script
and nothing from elsewhere; photographed at 360 x 640."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from device_agent.agent import Agent
from device_agent.screen.app import Screen
from device_agent.screen.guard import Launch
from device_agent.screen.map_drawing import KNOWN, SHAPES, Key, key_of, swatch
from device_agent.screen.web import create_app
from mdm_server.geo.maps import MapSource
from mdm_server.geo.placement import place
from mdm_server.records.models import FiledReport
from tests.agent.screen.test_pages import post, text
from tests.agent.test_secure_side import Device, run
from tests.factories.secure import NEW_PIN, PIN
from tests.factories.staff import context_of

ARTIFACTS = Path(__file__).parents[3] / "test-artifacts" / "screen" / "map"


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
        client.get("/launch", params={"key": launch.secret}, follow_redirects=False)
        yield client, launch
        post(client, launch, "/leave")


def file_reports(app: FastAPI, division: str, count: int) -> None:
    context = context_of(app)
    north = MapSource().division("north")
    kinds = ("incident_report", "stop_and_search", "missing_person_report")
    with context.database.unit_of_work() as session:
        for n in range(count):
            longitude, latitude = place(
                {"location": f"{n} Gannet Street" if n % 2 else f"yard {n}"}, north
            ) or (0.0, 0.0)
            session.add(
                FiledReport(
                    reference=f"INC-DEMO-{uuid.uuid4().hex[:8]}",
                    kind=kinds[n % 3],
                    transaction_id=uuid.uuid4(),
                    filed_by="0000",
                    filed_at=context.clock(),
                    fields={},
                    division=division,
                    latitude=latitude,
                    longitude=longitude,
                )
            )


class TestTheMapOnThePhone:
    def test_optik_offers_the_map_of_the_officers_own_division(
        self,
        app: FastAPI,
        screen: tuple[TestClient, Launch],
        online_only_device: Device,
    ) -> None:
        file_reports(app, "north", 12)
        file_reports(app, "south", 5)  # another division's: never on this officer's map
        client, launch = screen
        post(client, launch, "/enter", collar=online_only_device.collar, pin=PIN)
        home = post(client, launch, "/enter/new-pin", new_pin=NEW_PIN, confirm=NEW_PIN)
        assert 'href="/secure/map"' in home.text
        page = client.get("/secure/map")
        assert page.status_code == 200, page.text
        assert "Northmoor (fictional)" in page.text
        assert page.text.count("<svg") >= 2 and "<script" not in page.text.split("</head>")[1]
        words = text(page.text)
        assert "incident report 4" in words and "stop and search 4" in words
        assert "12 reports placed" in page.text  # the south's five are not here
        assert "INC-DEMO" not in page.text and "Gannet" not in page.text
        photograph(page.text)

    def test_the_map_needs_the_secure_side_open(self, screen: tuple[TestClient, Launch]) -> None:
        client, _ = screen
        answer = client.get("/secure/map", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/locked"


def photograph(html: str) -> None:
    """The page at a J5's 360 x 640, with the screen's own stylesheet and nothing else."""
    from tests.e2e.browser import accessibility_violations, chromium_or_skip

    binary = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    css = (
        Path(__file__).parents[3] / "device_agent" / "screen" / "static" / "screen.css"
    ).read_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary)
        page = browser.new_page(viewport={"width": 360, "height": 640})
        foreign: list[str] = []
        page.route("**/*", lambda route: (foreign.append(route.request.url), route.abort()))
        page.set_content(html.replace("</head>", f"<style>{css}</style></head>"))
        page.screenshot(path=str(ARTIFACTS / "map-360.png"), full_page=True)
        inaccessible = accessibility_violations(page)
        browser.close()
    assert inaccessible == [], "\n".join(inaccessible)
    assert all(url.startswith("http://127.0.0.1") for url in foreign), foreign


class TestEachKindItsOwnLook:
    def test_no_two_kinds_share_a_shape_and_colour(self) -> None:
        kinds = [*KNOWN, "a_kind_added_later", "and_another"]
        view = {"counts": [{"kind": kind, "count": 1, "placed": 1} for kind in kinds]}
        looks = [(key.shape, key.colour) for key in key_of(view)]
        assert len(set(looks)) == len(kinds), looks

    def test_a_kind_keeps_its_look_whatever_is_shown_with_it(self) -> None:
        alone = key_of({"counts": [{"kind": "safeguarding_referral", "count": 1, "placed": 0}]})
        every = key_of({"counts": [{"kind": kind, "count": 1, "placed": 0} for kind in KNOWN]})
        assert (alone[0].shape, alone[0].colour) == (every[-1].shape, every[-1].colour)

    def test_every_shape_draws(self) -> None:
        for shape in SHAPES:
            drawn = swatch(Key("kind", "kind", "#000000", shape, 1, 1))
            assert "<circle" in drawn or "<rect" in drawn or "<polygon" in drawn, shape
