"""A safeguarding referral raised on the officer's screen in Chromium, against a live `tabard
serve` and the running agent on a virtual J5: the form, the referral filed, and read back by
the officer who raised it. Photographed at 360 x 640 and 800 x 1280 with axe-core's verdict."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.agents import agent_running
from tests.e2e.browser import chromium
from tests.e2e.harness import Tabard
from tests.e2e.screen import J5, PhoneCamera, launch_screen, phone
from tests.e2e.test_screen_browser import (
    NEW_PIN,
    SCREEN_POLICY,
    clean,
    enter,
    first_entry_by_cli,
    ready,
)
from tests.e2e.test_screen_reports_browser import apply
from tests.e2e.test_secure_side import PASSWORD, enrol_assigned_j5

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(600)]
SAFEGUARDING_POLICY: dict[str, Any] = {
    **SCREEN_POLICY,
    "name": "screen-safeguarding",
    "appropriate_use": {
        **SCREEN_POLICY["appropriate_use"],
        "justification_sample_rate": 0,
        "transaction_types": {
            "safeguarding_referral": {"purposes": ["SAFEGUARDING"]},
            "report_lookup": {"purposes": ["SAFEGUARDING"]},
        },
    },
}


def refer(page: Any, camera: PhoneCamera) -> str:
    page.get_by_role("link", name="Safeguarding referral").click()
    page.get_by_label("Purpose").select_option("SAFEGUARDING")
    page.get_by_label("Who is at risk").select_option("child")
    page.get_by_label("Surname", exact=True).fill("Example")
    page.get_by_label("Forename", exact=True).fill("Robin")
    page.get_by_label("Concerns").fill("Boy, about 9, alone at home at 23:40; no food in the house")
    page.get_by_label("What you did at once").fill("Stayed until the neighbour took him in")
    page.get_by_label("Where").fill("14 Fictional Lane, Testbury")
    camera.shoot(page, "safeguarding referral form")
    page.get_by_role("button", name="Refer to MASH").click()
    expect(page.locator("#results")).to_contain_text(re.compile(r"Filed as SG-DEMO-\w+"))
    camera.shoot(page, "safeguarding referral filed")
    return str(page.locator("#results .done strong").text_content()).strip()


def read_back(page: Any, camera: PhoneCamera, reference: str) -> None:
    page.get_by_role("link", name="Read it back").click()
    expect(page.get_by_label("Report reference")).to_have_value(reference)
    page.get_by_label("Purpose").select_option("SAFEGUARDING")
    page.get_by_role("button", name="Read it").click()
    expect(page.locator("#results")).to_contain_text("alone at home")
    camera.shoot(page, "safeguarding referral read back")


class TestSafeguardingOnTheScreen:
    def test_an_officer_refers_a_child_at_risk_and_reads_it_back(
        self, tabard: Tabard, backend: str
    ) -> None:
        ready(tabard)
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            state = enrol_assigned_j5(tabard)
            apply(tabard, SAFEGUARDING_POLICY)
            with agent_running(tabard, state):
                first_entry_by_cli(tabard, state)
                launched = launch_screen(tabard, state)
                origin = f"http://127.0.0.1:{launched['port']}"
                folder = f"{backend}-safeguarding"
                with chromium(origin, folder, kind="screen") as (browser, watch, shots):
                    camera = PhoneCamera(shots.folder)
                    page = phone(browser, watch, J5)
                    page.goto(launched["url"])
                    enter(page, NEW_PIN)
                    expect(page.get_by_role("heading", name="Secure side")).to_be_visible()
                    reference = refer(page, camera)
                    read_back(page, camera, reference)
                    clean(watch, camera, 3)
