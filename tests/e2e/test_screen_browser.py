"""The officer's screen in Debian's Chromium, served by a running agent on a virtual J5 against
a live `tabard serve`: a first entry (PIN change, the appropriate-use policy acknowledged), a
person search with its purpose and its sampled justification answered, a vehicle search, an
incident report filed, leaving; wrong PINs to a lockout shown with its end; IT's wipe of the
secure side seen on screen as it lands. After leaving and after the wipe the search's subject
is in neither the page nor any browser storage area. Every screen is photographed at 360 x 640
and 800 x 1280 into test-artifacts/screen/<backend>-<test>/, with axe-core's verdict on each,
and no request leaves the screen's own loopback address."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.e2e.agents import agent_running
from tests.e2e.browser import chromium
from tests.e2e.harness import Tabard
from tests.e2e.screen import J5, STORAGE, TAB_A, PhoneCamera, launch_screen, phone
from tests.e2e.test_secure_side import COLLAR, PASSWORD, POLICY, enrol_assigned_j5

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(600)]
PIN, NEW_PIN = "402917", "583062"
INCIDENT = "INC-20261121-0042"
SCREEN_POLICY: dict[str, Any] = {
    **POLICY,
    "name": "screen",
    "secure_side": {
        "inactivity_lock_minutes": 15,
        "offline_grace_hours": 8,
        "pin_max_failed_attempts": 3,
        "pin_lockout_minutes": 30,
    },
    "appropriate_use": {
        **POLICY["appropriate_use"],
        "transaction_types": {
            "person_search": {
                "purposes": ["INVESTIGATION", "INTELLIGENCE"],
                "incident_reference_required": True,
            },
            "vehicle_search": {"purposes": ["INVESTIGATION", "ROAD_TRAFFIC"]},
            "incident_report": {"purposes": ["INVESTIGATION"]},
        },
    },
}


def ready(tabard: Tabard) -> None:
    """A fresh install, whose device shows times in its own zone (GMT in winter)."""
    tabard.extra_env["TABARD_CHECKIN_INTERVAL_S"] = "3600"
    tabard.extra_env["TZ"] = "Europe/London"
    tabard.bootstrap("admin", PASSWORD)


def apply_screen_policy(tabard: Tabard) -> None:
    policy = tabard.root / "screen.yaml"
    policy.write_text(yaml.safe_dump(SCREEN_POLICY))
    tabard.run("policy", "apply", str(policy), "--to", "fleet")


def press_pin(page: Any, pin: str) -> None:
    """The PIN on the pad's big keys, as a finger would."""
    for digit in pin:
        page.get_by_role("button", name=digit, exact=True).click()


def gone_everywhere(page: Any, word: str) -> None:
    """`word` is in neither the page nor any browser storage area for the screen's origin."""
    assert word.lower() not in page.content().lower()
    assert word.lower() not in page.evaluate(STORAGE).lower()


def first_entry(page: Any, camera: PhoneCamera) -> None:
    expect(page.get_by_role("heading", name="Compliant")).to_be_visible()
    camera.shoot(page, "personal home")
    page.get_by_role("link", name="Enter the secure side").click()
    page.get_by_label("Collar number").fill(COLLAR)
    page.get_by_label("PIN", exact=True).focus()
    press_pin(page, PIN)
    camera.shoot(page, "collar number and PIN pad")
    page.get_by_role("button", name="Enter", exact=True).click()
    expect(page.get_by_role("heading", name="Choose your own PIN")).to_be_visible()
    page.get_by_label("New PIN", exact=True).fill(NEW_PIN)  # typed, as a keyboard would
    page.get_by_label("New PIN again").fill(NEW_PIN)
    camera.shoot(page, "first entry new PIN")
    page.get_by_role("button", name="Set PIN and enter").click()
    expect(page.get_by_role("heading", name="Appropriate-use policy")).to_be_visible()
    expect(page.locator(".policy-text")).to_contain_text("Policing purposes only")
    camera.shoot(page, "appropriate-use policy")
    page.get_by_role("button", name="I have read it and will follow it").click()
    expect(page.get_by_role("heading", name="Secure side")).to_be_visible()
    expect(page.locator("#countdown")).to_contain_text(re.compile(r"Locks in 1[45]:\d\d"))
    camera.shoot(page, "OPTIK secure home")


def person_search(page: Any, camera: PhoneCamera, *, answer_justification: bool) -> None:
    page.get_by_role("link", name="Person search").click()
    expect(page.get_by_label("Purpose")).to_contain_text("Investigation")
    camera.shoot(page, "person search form")
    page.get_by_label("Purpose").select_option("INVESTIGATION")
    page.get_by_label("Incident reference").fill(INCIDENT)
    page.get_by_label("Surname").fill("Example")
    page.get_by_label("Forename (optional)").fill("Sam")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results")).to_contain_text("EXAMPLE, SAM")
    expect(page.get_by_role("heading", name="Further justification needed")).to_be_visible()
    camera.shoot(page, "person search result with justification asked")
    if answer_justification:
        page.get_by_label("Your answer").fill("Suspect named by the victim of " + INCIDENT)
        page.get_by_role("button", name="Send answer").click()
        expect(page.get_by_text("Your answer was recorded at")).to_contain_text("GMT")
        camera.shoot(page, "justification recorded")


def vehicle_search(page: Any, camera: PhoneCamera) -> None:
    page.get_by_role("link", name="Back to OPTIK").click()
    page.get_by_role("link", name="Vehicle search").click()
    page.get_by_label("Purpose").select_option("ROAD_TRAFFIC")
    page.get_by_label("Registration mark").fill("AB12 CDE")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results")).to_contain_text("AB12CDE")
    camera.shoot(page, "vehicle search result")


def incident_report(page: Any, camera: PhoneCamera) -> None:
    page.get_by_role("link", name="Back to OPTIK").click()
    page.get_by_role("link", name="Incident report").click()
    page.get_by_label("Purpose").select_option("INVESTIGATION")
    page.get_by_label("What happened").fill("Shed broken into; bicycle taken")
    page.get_by_label("Where").fill("Sample Road, Testbury")
    page.get_by_label("When").fill("2026-11-21T02:10")
    page.get_by_label("Category").select_option("crime")
    camera.shoot(page, "incident report form")
    page.get_by_role("button", name="File report").click()
    expect(page.locator("#results")).to_contain_text(re.compile(r"Filed as INC-DEMO-\w+"))
    camera.shoot(page, "incident report filed")


def leave_on_a_slow_phone(page: Any) -> None:
    """Leave, on a phone slow enough that the screen's once-a-second look at the secure side
    sees it locked before Leave's own answer arrives: that answer is held back until the page
    has been told twice that the secure side is locked. The page must not go to /locked on its
    own, which would cancel Leave and rewrite the history behind it; Leave's answer lands."""
    held: list[tuple[Any, Any]] = []
    told_locked: list[Any] = []
    asked: list[str] = []

    def hold(route: Any) -> None:
        held.append((route, route.fetch(max_redirects=0)))  # the secure side locks now

    def look(route: Any) -> None:
        answer = route.fetch()
        if answer.json()["secure_side"] != "open":
            told_locked.append(answer)
        route.fulfill(response=answer)

    page.on("request", lambda request: asked.append(request.url))
    page.route("**/leave", hold)
    page.route("**/state", look)
    # Pressed from the page itself: Playwright's own click would wait for the answer held here.
    page.get_by_role("button", name="Leave").evaluate("button => button.click()")
    page.wait_for_event(
        "request", lambda request: len(told_locked) >= 2 or request.url.endswith("/locked")
    )
    assert not [url for url in asked if url.endswith("/locked")], "the page left Leave behind"
    route, answer = held[0]
    route.fulfill(response=answer)
    expect(page.get_by_role("heading", name="Secure side locked")).to_be_visible()
    page.unroute("**/leave")
    page.unroute("**/state")


def clean(watch: Any, camera: PhoneCamera, shots: int) -> None:
    assert watch.foreign == [], watch.foreign
    assert watch.errors == [], watch.errors
    assert camera.problems == [], "\n".join(camera.problems)
    assert len(camera.taken) == 2 * shots


class TestTheScreen:
    def test_a_first_shift_on_a_j5_then_leaving_leaves_nothing(
        self, tabard: Tabard, backend: str
    ) -> None:
        ready(tabard)
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            state = enrol_assigned_j5(tabard)
            apply_screen_policy(tabard)
            with agent_running(tabard, state):
                tabard.run("agent", "--state", str(state), "checkin")
                launched = launch_screen(tabard, state)
                origin = f"http://127.0.0.1:{launched['port']}"
                with chromium(origin, f"{backend}-shift", kind="screen") as (browser, watch, shots):
                    camera = PhoneCamera(shots.folder)
                    page = phone(browser, watch, J5)
                    page.goto(launched["url"])
                    assert page.url == origin + "/"  # the secret has left the address bar
                    first_entry(page, camera)
                    person_search(page, camera, answer_justification=True)
                    vehicle_search(page, camera)
                    incident_report(page, camera)
                    leave_on_a_slow_phone(page)
                    expect(page.locator("#why")).to_contain_text(
                        re.compile(r"You left the secure side at \d\d:\d\d:\d\d GMT")
                    )
                    camera.shoot(page, "left")
                    gone_everywhere(page, "Example")
                    # The back button finds nothing kept of the shift: the result was no-store.
                    with pytest.raises(PlaywrightError, match="ERR_CACHE_MISS"):
                        page.go_back()
                    expect(page.locator("html")).not_to_contain_text(re.compile("example", re.I))
                    status = json.loads(
                        tabard.run("agent", "--state", str(state), "status", "--json").stdout
                    )
                    assert status["secure_side"] == "locked"
                    clean(watch, camera, 12)

    def test_wrong_pins_lock_out_and_its_wipe_shows_at_once(
        self, tabard: Tabard, backend: str
    ) -> None:
        ready(tabard)
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            state = enrol_assigned_j5(tabard)
            apply_screen_policy(tabard)
            with agent_running(tabard, state):
                first_entry_by_cli(tabard, state)
                launched = launch_screen(tabard, state)
                origin = f"http://127.0.0.1:{launched['port']}"
                with chromium(origin, f"{backend}-wipe", kind="screen") as (browser, watch, shots):
                    camera = PhoneCamera(shots.folder)
                    page = phone(browser, watch, TAB_A)
                    page.goto(launched["url"])
                    enter(page, NEW_PIN)
                    person_search(page, camera, answer_justification=False)
                    device_id = json.loads((state / "enrolment.json").read_text())["device_id"]
                    tabard.run("commands", "send", device_id, "wipe_secure_side", "--reason", "x")
                    expect(page.locator("#why")).to_contain_text(
                        re.compile(
                            r"IT has wiped the secure side of this device at \d\d:\d\d:\d\d GMT"
                        ),
                        timeout=2_000,
                    )
                    camera.shoot(page, "wiped by IT")
                    gone_everywhere(page, "Example")
                    for tries_left in (2, 1):
                        enter(page, "135790")
                        expect(page.get_by_role("alert")).to_contain_text(
                            f"{tries_left} tr{'ies' if tries_left > 1 else 'y'} left"
                        )
                    camera.shoot(page, "wrong PIN")
                    enter(page, "135790")
                    expect(page.get_by_role("alert")).to_contain_text(
                        re.compile(
                            r"The PIN is locked until "
                            r"(?:\d{1,2} [A-Z][a-z]{2} \d{4} )?\d\d:\d\d:\d\d GMT"
                        )
                    )
                    camera.shoot(page, "PIN locked out")
                    watch.errors = [e for e in watch.errors if "status of 401" not in e]
                    watch.errors = [e for e in watch.errors if "status of 403" not in e]
                    clean(watch, camera, 5)


def first_entry_by_cli(tabard: Tabard, state: Path) -> None:
    """The officer's first entry done already (PIN changed, policy acknowledged), and left."""
    agent = ["agent", "--state", str(state)]
    tabard.run(*agent, "checkin")
    tabard.run(
        *agent,
        "secure",
        "enter",
        "--officer",
        COLLAR,
        "--pin-stdin",
        "--acknowledge",
        "2026.2",
        stdin=f"{PIN}\n{NEW_PIN}\n",
    )
    tabard.run(*agent, "secure", "leave")


def enter(page: Any, pin: str) -> None:
    """From wherever the page is, through the button and the gate (no prompts expected)."""
    scheme, _, host = page.url.split("/", 3)[:3]
    page.goto(f"{scheme}//{host}/enter")
    page.get_by_label("Collar number").fill(COLLAR)
    page.get_by_label("PIN", exact=True).fill(pin)
    page.get_by_role("button", name="Enter", exact=True).click()
