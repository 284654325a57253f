"""Safeguarding end to end over real sockets, on each backend: an officer raises a referral
from the secure side of a virtual J5 through the agent's CLI and reads it back; the MASH team
member, in Chromium, sees it in the queue with its age against the deadline beside one raised
yesterday and overdue, rates it red and records a decision; professional standards find all
of it with the auditor's search. Every page is photographed at 1400 and 800 px into
test-artifacts/console/mash-<backend>/, axe-core clean, nothing fetched from outside."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from mdm_server.config import Settings
from mdm_server.db import Database
from mdm_server.records.filed import RecordsCall
from mdm_server.secure.connector import DemoConnector
from tests.e2e.agents import agent_running
from tests.e2e.browser import chromium, new_page
from tests.e2e.harness import Tabard
from tests.e2e.test_console_browser import NEW_PASSWORD, create_user, sign_in
from tests.e2e.test_secure_side import COLLAR, PASSWORD, POLICY, enrol_assigned_j5
from tests.factories.safeguarding import referral

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(600)]
SAFEGUARDING_POLICY: dict[str, Any] = {
    **POLICY,
    "appropriate_use": {
        **POLICY["appropriate_use"],
        "justification_sample_rate": 0.0,
        "transaction_types": {
            "safeguarding_referral": {"purposes": ["SAFEGUARDING"]},
            "report_lookup": {"purposes": ["SAFEGUARDING"]},
        },
    },
}
CONCERNS = "Boy, about 9, alone at home at 23:40; no food in the house; says mum is often out."


def raise_from_the_secure_side(tabard: Tabard, state: Any) -> tuple[str, str]:
    """The officer's part: enter the secure side, raise the referral, read it back."""
    agent = ["agent", "--state", str(state)]
    tabard.run(
        *agent, "secure", "enter", "--officer", COLLAR, "--pin-stdin", "--acknowledge", "2026.2",
        stdin="402917\n583062\n",
    )  # fmt: skip
    raised = tabard.run(
        *agent, "report", "safeguarding", "--at-risk", "child", "--surname", "Example",
        "--forename", "Robin", "--dob", "2017-05-14", "--concerns", CONCERNS,
        "--people-involved", "Mother (not at home); neighbour at number 12",
        "--immediate-actions", "Stayed with him until the neighbour took him in",
        "--location", "14 Fictional Lane, Testbury", "--json",
    )  # fmt: skip
    reference = json.loads(raised.stdout)["result"]["reference"]
    shown = tabard.run(*agent, "report", "show", reference, "--purpose", "SAFEGUARDING")
    tabard.run(*agent, "secure", "leave")
    return reference, shown.stdout


def raised_yesterday(tabard: Tabard) -> str:
    """A referral the records system has held for 30 hours, for the queue to show overdue."""
    settings = Settings(data_dir=tabard.root / "data", database_url=tabard.database_url)
    database = Database.from_settings(settings)
    report = referral(at_risk="adult", surname="Sample", forename="Jordan", born="1941-02-03")
    try:
        with database.unit_of_work() as session:
            call = RecordsCall(
                session=session,
                transaction_id=str(uuid.uuid4()),
                collar_number="4188",
                now=datetime.now(UTC) - timedelta(hours=30),
            )
            return DemoConnector().raise_referral(report["report"], division="north", call=call)
    finally:
        database.dispose()


def mash_triages(browser, watch, camera, tabard: Tabard, reference: str, old: str) -> None:  # type: ignore[no-untyped-def]
    page = new_page(browser, watch)
    sign_in(page, tabard.url, "mash-1", PASSWORD, first_time=True)
    assert page.url.endswith("/console/mash")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    assert old in rows.first.inner_text() and reference in rows.last.inner_text()
    assert "OVERDUE by 6 h" in rows.first.inner_text()  # in words, not only in red
    assert "due in 23 h" in rows.last.inner_text()
    camera.shoot(page, "mash queue")
    page.get_by_role("link", name=reference).click()
    page.wait_for_url(f"**/console/mash/{reference}")
    expect(page.locator("main")).to_contain_text(CONCERNS)
    camera.shoot(page, "mash referral waiting")
    page.get_by_role("radio", name="Red").check()
    page.get_by_label("Why (required)").fill("Young child alone overnight, repeated pattern.")
    page.get_by_role("button", name="Record the rating").click()
    page.wait_for_url(f"**/console/mash/{reference}")
    expect(page.get_by_role("heading", name="Decide")).to_be_visible()
    # Only the decisions that fit a child are offered.
    offered = page.get_by_label("Decision").locator("option").all_inner_texts()
    assert "Referred to adults' social care" not in offered
    camera.shoot(page, "mash referral rated red")
    page.get_by_label("Decision").select_option("childrens_social_care")
    page.get_by_label("Reasons (required)").fill("Neglect; strategy discussion with CSC today.")
    page.get_by_role("button", name="Record the decision").click()
    page.wait_for_url(f"**/console/mash/{reference}")
    expect(page.locator("main")).to_contain_text("referred to children's social care")
    expect(page.get_by_role("button", name="Record the decision")).to_have_count(0)
    camera.shoot(page, "mash referral decided")
    page.goto(f"{tabard.url}/console/mash?showing=all")
    expect(page.locator("tbody tr")).to_have_count(2)
    camera.shoot(page, "mash queue all")
    page.context.close()


def auditor_finds(tabard: Tabard, *searches: dict[str, str]) -> list[list[dict[str, Any]]]:
    """Professional standards' searches over the API, as a new auditor: the events each
    finds."""
    with httpx.Client(base_url=tabard.url, timeout=30) as api:
        first = api.post("/api/v1/auth/login", json={"username": "ps-1", "password": PASSWORD})
        changed = api.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers={"Authorization": f"Bearer {first.json()['access_token']}"},
        )
        assert changed.status_code == 200, changed.text
        bearer = {"Authorization": f"Bearer {changed.json()['access_token']}"}
        found = []
        for params in searches:
            page = api.get("/api/v1/audit/search", params=params, headers=bearer)
            assert page.status_code == 200, page.text
            found.append(list(page.json()["events"]))
        return found


class TestSafeguardingEndToEnd:
    def test_an_officer_refers_mash_rates_it_red_and_decides_and_the_auditor_finds_it(
        self, tabard: Tabard, backend: str
    ) -> None:
        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            state = enrol_assigned_j5(tabard, SAFEGUARDING_POLICY)
            create_user(tabard, "mash-1", "mash")
            create_user(tabard, "ps-1", "auditor")
            with agent_running(tabard, state):
                reference, shown = raise_from_the_secure_side(tabard, state)
            old = raised_yesterday(tabard)
            with chromium(tabard.url, f"mash-{backend}") as (b, watch, camera):
                mash_triages(b, watch, camera, tabard, reference, old)
                assert watch.errors == [], watch.errors
                assert watch.foreign == [], watch.foreign
                assert camera.inaccessible == [], "\n".join(camera.inaccessible)
                assert camera.cut_off == [], "\n".join(camera.cut_off)
                assert len(camera.taken) == 2 * camera.shots == 10
            by_person, by_reference = auditor_finds(
                tabard, {"surname": "Example", "forename": "Robin"}, {"incident": reference}
            )

        assert reference.startswith("SG-DEMO-")
        assert "Safeguarding referral" in shown and CONCERNS[:20] in shown
        for found in (by_person, by_reference):
            actions = {event["action"] for event in found}
            assert {
                "transaction.safeguarding_referral",
                "safeguarding.queue_read",
                "safeguarding.referral_read",
                "safeguarding.referral_rated",
                "safeguarding.referral_decided",
            } <= actions, actions
        (filed,) = [e for e in by_person if e["action"] == "transaction.safeguarding_referral"]
        assert filed["detail"]["collar_number"] == COLLAR
        assert filed["detail"]["purpose"] == "SAFEGUARDING"
        assert CONCERNS not in json.dumps(by_person)  # the concerns stay with the referral
        decided = [e for e in by_person if e["action"] == "safeguarding.referral_decided"]
        assert decided[0]["actor"]["name"] == "mash-1" or "mash-1" in json.dumps(decided[0])
