"""The officer's screen in Chromium, beyond searches: a witness statement read and signed with
a pointer on the pad (cleared once, signed again), filed with its digest checked on the device,
read back with its signature drawn and a note kept beside it, an edit of it refused in words;
an incident report updated from its filing with its history; a missing person and a stop and
search filed. Every screen is photographed at 360 x 640 and 800 x 1280 with axe-core's verdict
on each, against a live `tabard serve` and the running agent on a virtual J5."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
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
from tests.e2e.test_secure_side import PASSWORD, enrol_assigned_j5

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(600)]
REPORTS = (
    "incident_report",
    "witness_statement",
    "report_lookup",
    "witness_statement_annotation",
    "incident_report_update",
    "missing_person_report",
    "stop_and_search",
)
REPORTS_POLICY: dict[str, Any] = {
    **SCREEN_POLICY,
    "name": "screen-reports",
    "appropriate_use": {
        **SCREEN_POLICY["appropriate_use"],
        "justification_sample_rate": 0,
        "transaction_types": {kind: {"purposes": ["INVESTIGATION"]} for kind in REPORTS},
    },
}
FILED = re.compile(r"Filed as [A-Z]+-DEMO-\w+")


def apply(tabard: Tabard, document: dict[str, Any]) -> None:
    policy = tabard.root / f"{document['name']}.yaml"
    policy.write_text(yaml.safe_dump(document))
    tabard.run("policy", "apply", str(policy), "--to", "fleet")


def sign(page: Any, strokes: int = 2) -> None:
    """A signature drawn with the pointer, as a finger on the pad would."""
    pad = page.locator("#signature-pad")
    pad.scroll_into_view_if_needed()  # a finger off the screen draws nothing
    box = pad.bounding_box()
    for n in range(strokes):
        x, y = box["x"] + 20 + 90 * n, box["y"] + box["height"] * 0.7
        page.mouse.move(x, y)
        page.mouse.down()
        for step in range(1, 12):
            page.mouse.move(x + 6 * step, y - 30 * abs(((step % 4) - 2) / 2), steps=2)
        page.mouse.up()


def purpose(page: Any) -> None:
    page.get_by_label("Purpose").select_option("INVESTIGATION")


def witness_statement(page: Any, camera: PhoneCamera) -> str:
    page.get_by_role("link", name="Witness statement").click()
    purpose(page)
    page.get_by_label("Witness's surname").fill("Sample")
    page.get_by_label("Witness's forename").fill("Alex")
    page.get_by_label("Statement", exact=True).fill(
        "I saw a man climb the fence at the back of number 12.\n"
        "He ran towards Sample Road carrying a bicycle."
    )
    camera.shoot(page, "witness statement form")
    page.get_by_role("button", name="Read and sign").click()
    expect(page.get_by_role("region", name="The statement")).to_contain_text("carrying a bicycle")
    camera.shoot(page, "witness reads the statement")
    page.get_by_role("button", name="Sign and file the statement").click()
    expect(page.get_by_role("alert")).to_contain_text("The witness has not signed yet")
    sign(page, strokes=1)
    expect(page.locator("#signature")).to_have_value(re.compile(r'"strokes":\[\[\['))
    page.get_by_role("button", name="Clear the signature").click()
    expect(page.locator("#signature")).to_have_value("")
    sign(page)
    expect(page.locator("#signature")).to_have_value(re.compile(r'"strokes":\[\[\['))
    expect(page.get_by_text("The witness has not signed yet")).to_have_count(0)  # no longer so
    camera.shoot(page, "witness signed")
    page.get_by_role("button", name="Sign and file the statement").click()
    expect(page.locator("#digest-check")).to_contain_text("Checked on this device")
    expect(page.locator("#results")).to_contain_text(re.compile(r"Signed at \d\d:\d\d:\d\d GMT"))
    camera.shoot(page, "statement filed with its digest")
    heading = page.get_by_role("heading", name=re.compile("Filed as")).text_content()
    return str(heading).removeprefix("Filed as ").strip()


def statement_read_back(page: Any, camera: PhoneCamera, reference: str) -> None:
    digest = page.locator("#digest").text_content()
    page.get_by_role("link", name="Read it back").click()
    expect(page.get_by_label("Report reference")).to_have_value(reference)
    purpose(page)
    page.get_by_role("button", name="Read it").click()
    expect(page.get_by_role("img", name=re.compile("The witness's signature"))).to_be_visible()
    expect(page.locator("svg.signature path")).to_have_count(2)
    expect(page.locator("#digest")).to_have_text(str(digest))
    expect(page.locator("#digest-check")).to_contain_text("the digest matches")
    expect(page.get_by_role("link", name="Update this report")).to_have_count(0)
    camera.shoot(page, "statement read back")
    page.get_by_role("link", name="Add an annotation").click()
    purpose(page)
    page.get_by_label("Note").fill("Witness rang back: it was about 02:15.")
    camera.shoot(page, "annotation form")
    page.get_by_role("button", name="Keep the note").click()
    expect(page.locator("#results")).to_contain_text("now has 1 note")
    camera.shoot(page, "note kept")
    page.goto(re.sub(r"/secure/.*", f"/secure/update?reference={reference}", page.url))
    purpose(page)
    page.get_by_label("What happened (optional)").fill("He walked away.")
    page.get_by_label("Why it changes").fill("Witness asked")
    page.get_by_role("button", name="Update report").click()
    expect(page.get_by_role("alert")).to_contain_text("it can never be changed")
    camera.shoot(page, "edit of a statement refused")


def incident_report_updated(page: Any, camera: PhoneCamera) -> None:
    page.get_by_role("link", name="OPTIK").first.click()
    page.get_by_role("link", name="Incident report").click()
    purpose(page)
    page.get_by_label("What happened").fill("Shed broken into; bicycle taken")
    page.get_by_label("Where").fill("Sample Road, Testbury")
    page.get_by_label("When").fill("2026-11-21T02:10")
    page.get_by_label("Category").select_option("crime")
    page.get_by_role("button", name="File report").click()
    expect(page.locator("#results")).to_contain_text(FILED)
    page.get_by_role("link", name="Update this report").click()
    purpose(page)
    page.get_by_label("Where (optional)").fill("12 Sample Road, Testbury")
    page.get_by_label("Why it changes").fill("House number found")
    camera.shoot(page, "incident report update form")
    page.get_by_role("button", name="Update report").click()
    expect(page.locator("#results")).to_contain_text(re.compile(r"is now version 2"))
    expect(page.locator(".history")).to_contain_text("Why: House number found")
    camera.shoot(page, "incident report updated with its history")


def missing_person(page: Any, camera: PhoneCamera) -> None:
    page.get_by_role("link", name="Back to OPTIK").click()
    page.get_by_role("link", name="Missing person").click()
    purpose(page)
    page.get_by_label("Surname", exact=True).fill("Example")
    page.get_by_label("Forename", exact=True).fill("Jo")
    page.get_by_label("Last seen at (time)").fill("2026-11-21T18:30")
    page.get_by_label("Last seen at (place)").fill("Testbury bus station")
    page.get_by_label("Description").fill("Aged 15, slim, red coat, black rucksack")
    page.get_by_label("Risk").select_option("high")
    camera.shoot(page, "missing person form")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#results")).to_contain_text(FILED)
    camera.shoot(page, "missing person registered")


def stop_and_search(page: Any, camera: PhoneCamera) -> None:
    page.get_by_role("link", name="Back to OPTIK").click()
    page.get_by_role("link", name="Stop and search").click()
    purpose(page)
    page.get_by_label("Grounds").fill("Seen passing a small package; smell of cannabis")
    page.get_by_label("Object of search").select_option("drugs")
    page.get_by_label("Where").fill("Sample Road, Testbury")
    page.get_by_label("Outcome").select_option("no_further_action")
    camera.shoot(page, "stop and search form")
    page.get_by_role("button", name="Record").click()
    expect(page.locator("#results")).to_contain_text(FILED)
    camera.shoot(page, "stop and search recorded")


class TestReportsOnTheScreen:
    def test_a_statement_signed_read_back_and_noted_and_the_other_reports(
        self, tabard: Tabard, backend: str
    ) -> None:
        ready(tabard)
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            state = enrol_assigned_j5(tabard)
            apply(tabard, REPORTS_POLICY)
            with agent_running(tabard, state):
                first_entry_by_cli(tabard, state)
                launched = launch_screen(tabard, state)
                origin = f"http://127.0.0.1:{launched['port']}"
                with chromium(origin, f"{backend}-reports", kind="screen") as (
                    browser,
                    watch,
                    shots,
                ):
                    camera = PhoneCamera(shots.folder)
                    page = phone(browser, watch, J5)
                    page.goto(launched["url"])
                    enter(page, NEW_PIN)
                    expect(page.get_by_role("heading", name="Secure side")).to_be_visible()
                    camera.shoot(page, "OPTIK with the report apps")
                    reference = witness_statement(page, camera)
                    statement_read_back(page, camera, reference)
                    incident_report_updated(page, camera)
                    missing_person(page, camera)
                    stop_and_search(page, camera)
                    watch.errors = [e for e in watch.errors if "status of 4" not in e]
                    clean(watch, camera, 15)


HIDDEN = """() => {
  Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


class TestLeavingAndLosing:
    def test_hidden_leaves_idle_locks_and_the_device_reported_lost(
        self, tabard: Tabard, backend: str
    ) -> None:
        ready(tabard)
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            state = enrol_assigned_j5(tabard)
            idle = {**REPORTS_POLICY, "name": "screen-idle"}
            idle["secure_side"] = {**REPORTS_POLICY["secure_side"], "inactivity_lock_minutes": 1}
            apply(tabard, idle)
            with agent_running(tabard, state):
                first_entry_by_cli(tabard, state)
                launched = launch_screen(tabard, state)
                origin = f"http://127.0.0.1:{launched['port']}"
                with chromium(origin, f"{backend}-lost", kind="screen") as (browser, watch, shots):
                    camera = PhoneCamera(shots.folder)
                    page = phone(browser, watch, J5)
                    page.goto(launched["url"])
                    enter(page, NEW_PIN)
                    page.get_by_role("link", name="Witness statement").click()
                    # The form's own page, loaded: not the page it replaces, which is leaving.
                    expect(page.get_by_role("heading", name="Witness statement")).to_be_visible()
                    page.wait_for_load_state()
                    page.evaluate(HIDDEN)  # the officer switches to the personal side
                    expect(page.locator("#why")).to_contain_text(
                        re.compile(
                            r"locked at \d\d:\d\d:\d\d GMT when you switched to the personal"
                        )
                    )
                    camera.shoot(page, "left on switching to the personal side")
                    enter(page, NEW_PIN)
                    expect(page.locator("#countdown")).to_contain_text("Locks in 0:")
                    expect(page.locator("#why")).to_contain_text(
                        "because it was not used for a while", timeout=120_000
                    )
                    camera.shoot(page, "locked when idle")
                    page.get_by_role("link", name="Home").click()
                    page.get_by_role("link", name="Report this device lost").click()
                    asked = page.get_by_role("heading", name="Report this device lost?")
                    expect(asked).to_be_visible()
                    camera.shoot(page, "report this device lost")
                    page.get_by_role("button", name="Yes, report it lost").click()
                    expect(page.locator("#reported")).to_contain_text(
                        re.compile(r"reported lost at \d\d:\d\d:\d\d GMT")
                    )
                    camera.shoot(page, "device reported lost")
                    shown = tabard.run("devices", "list", "--lost", "--json").stdout
                    assert json.loads(shown)  # IT sees it among the lost
                    clean(watch, camera, 4)
