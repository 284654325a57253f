"""The officer's screen offline, in Debian's Chromium, served by a running agent on a virtual
J5 whose server is stopped: the PIN opens the secure side offline, OPTIK says until when, a
person search says it needs the server, an incident report is kept as a draft, and trying the
server with none says so; the server starts again, the officer (still inside) tries it, the
side goes online and sends the draft once (the server holds one report, and entering again
sends nothing more), and OPTIK lists it as sent while the officer was offline, with its
reference. Photographed at 360 x 640 and
800 x 1280 into test-artifacts/screen/<backend>-offline/, with axe-core's verdict on each."""

from __future__ import annotations

import re
from contextlib import ExitStack
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from mdm_server.records.models import FiledReport
from tests.e2e.agents import agent_running, read_database
from tests.e2e.browser import chromium
from tests.e2e.harness import Tabard
from tests.e2e.screen import J5, PhoneCamera, launch_screen, phone
from tests.e2e.test_screen_browser import (
    INCIDENT,
    NEW_PIN,
    PASSWORD,
    apply_screen_policy,
    clean,
    enter,
    first_entry_by_cli,
    ready,
)
from tests.e2e.test_secure_side import enrol_assigned_j5
from tests.support import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(600)]
# A moment shown on the screen: its date too when it is not today (past midnight).
TIME = r"(?:\d{1,2} [A-Z][a-z]{2} \d{4} )?\d\d:\d\d:\d\d GMT"


def reports(tabard: Tabard) -> list[tuple[str, str]]:
    """(reference, kind) of every report the server holds."""
    return read_database(
        tabard,
        lambda session: [(r.reference, r.kind) for r in session.exec(select(FiledReport)).all()],
    )


def search_offline(page: Any, camera: PhoneCamera) -> None:
    page.get_by_role("link", name="Person search").click()
    expect(page.locator("#offline")).to_contain_text("Searches need the server")
    page.get_by_label("Purpose").select_option("INVESTIGATION")
    page.get_by_label("Incident reference").fill(INCIDENT)
    page.get_by_label("Surname").fill("Example")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("alert")).to_contain_text("Searches need the server")
    camera.shoot(page, "search offline")


def report_offline(page: Any, camera: PhoneCamera) -> None:
    page.goto(re.sub(r"/secure/.*$", "/secure/report", page.url))
    page.get_by_label("Purpose").select_option("INVESTIGATION")
    page.get_by_label("What happened").fill("Shed broken into; bicycle taken")
    page.get_by_label("Where").fill("Sample Road, Testbury")
    page.get_by_label("When").fill("2026-11-21T02:10")
    page.get_by_label("Category").select_option("crime")
    page.get_by_role("button", name="File report").click()
    expect(page.locator("#results")).to_contain_text(
        "kept as a draft; it will be sent when the server is back"
    )
    camera.shoot(page, "report kept as a draft")


class TestTheScreenOffline:
    def test_a_report_kept_offline_is_sent_once_when_the_server_is_back(
        self, tabard: Tabard, backend: str
    ) -> None:
        ready(tabard)
        with ExitStack() as agent:
            with tabard.serving():
                tabard.login("admin", PASSWORD)
                state = enrol_assigned_j5(tabard)
                apply_screen_policy(tabard)
                agent.enter_context(agent_running(tabard, state))
                wait_for(lambda: (state / "policy.json").exists(), "the policy applied")
                first_entry_by_cli(tabard, state)  # online once: the offline key is kept
            launched = launch_screen(tabard, state)  # the server is stopped from here
            origin = f"http://127.0.0.1:{launched['port']}"
            with chromium(origin, f"{backend}-offline", kind="screen") as (browser, watch, shots):
                camera = PhoneCamera(shots.folder)
                page = phone(browser, watch, J5)
                page.goto(launched["url"])
                enter(page, NEW_PIN)
                expect(page.get_by_role("heading", name="Offline")).to_be_visible()
                expect(page.locator("#offline")).to_contain_text(
                    re.compile(f"Offline use lasts until {TIME}")
                )
                camera.shoot(page, "OPTIK offline")
                search_offline(page, camera)
                report_offline(page, camera)
                page.get_by_role("link", name="Back to OPTIK").click()
                expect(page.locator("#drafts-waiting")).to_contain_text(
                    "1 report waits as a draft for the server"
                )
                assert not (state / "container.db").read_bytes().count(b"bicycle")
                try_the_server = page.get_by_role("button", name="I have a signal: try the server")
                try_the_server.click()
                expect(page.locator("#still-offline")).to_contain_text("still cannot be reached")
                expect(page.locator("#drafts-waiting")).to_contain_text("1 report waits")
                camera.shoot(page, "still no server")
                with tabard.serving():
                    # The signal is back: the officer, still inside, asks; the side goes online
                    # with the PIN that opened it, and the draft is sent without leaving.
                    page.get_by_role("button", name="I have a signal: try the server").click()
                    sent = page.locator("#sent-offline")
                    expect(sent).to_contain_text(re.compile(r"filed as INC-DEMO-\w+"))
                    camera.shoot(page, "sent while offline")
                    [(reference, kind)] = reports(tabard)
                    assert kind == "incident_report"
                    expect(sent).to_contain_text(f"filed as {reference}")
                    expect(sent).to_contain_text(re.compile(f"sent at {TIME}"))
                    expect(page.locator("#offline")).to_have_count(0)
                    page.get_by_role("button", name="Leave").click()
                    enter(page, NEW_PIN)  # entering again sends nothing more
                    expect(page.get_by_role("heading", name="Secure side")).to_be_visible()
                    assert len(reports(tabard)) == 1
                    page.get_by_role("button", name="Leave").click()
                watch.forgive_refusal(origin + "/secure/person", 503)
                watch.forgive_refusal(origin + "/secure/reconnect", 503)
                clean(watch, camera, 5)
