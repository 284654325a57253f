"""A missing person end to end over real sockets, on SQLite and PostgreSQL: an officer
registers a missing person and adds a sighting from the secure side through the agent on a
virtual J5; the missing-persons unit finds the case at the top of its board by risk, regrades
it, adds a review and closes it as found, through the CLI and in the console (photographed at
1400 and 800 px, axe-clean, nothing fetched from elsewhere); professional standards find all
of it by the case's reference."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.agents import agent_running
from tests.e2e.browser import chromium, new_page
from tests.e2e.harness import Tabard
from tests.e2e.test_console_browser import NEW_PASSWORD, create_user, sign_in
from tests.e2e.test_secure_side import COLLAR, PASSWORD, POLICY, enrol_assigned_j5

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(600)]
CASES_POLICY: dict[str, Any] = {
    **POLICY,
    "appropriate_use": {
        **POLICY["appropriate_use"],
        "justification_sample_rate": 0.0,
        "transaction_types": {
            "missing_person_report": {"purposes": ["MISSING_PERSON"]},
            "missing_person_update": {"purposes": ["MISSING_PERSON"]},
            "missing_person_cases": {"purposes": ["MISSING_PERSON"]},
        },
    },
}
WHY = ["--purpose", "MISSING_PERSON"]


def register(tabard: Tabard, agent: list[str], risk: str, forename: str) -> str:
    answer = tabard.run(
        *agent, "report", "missing-person", "--surname", "Example", "--forename", forename,
        "--last-seen-at", "2026-11-21T18:00Z", "--last-seen-location", "Demo Way, Mockton",
        "--description", "Blue coat, red rucksack", "--risk", risk, *WHY, "--json",
    ).stdout  # fmt: skip
    return str(json.loads(answer)["result"]["reference"])


def the_unit_in_the_console(browser, watch, camera, tabard: Tabard, reference: str) -> None:  # type: ignore[no-untyped-def]
    page = new_page(browser, watch, tablet=False)
    sign_in(page, tabard.url, "mp-unit", PASSWORD, first_time=True)
    assert page.url.endswith("/console/missing-persons")
    first = page.locator("tbody tr").first
    expect(first).to_contain_text(reference)
    expect(first).to_contain_text("high")
    camera.shoot(page, "missing persons board")
    first.get_by_role("link", name=reference).click()
    page.wait_for_url(f"**/console/missing-persons/{reference}")
    expect(page.locator("table")).to_contain_text("Sighting at Bus station, Testbury")
    camera.shoot(page, "missing person case")
    page.get_by_label("What the review found and decided").fill("Hospitals checked; CCTV asked.")
    page.get_by_role("button", name="Record the review").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator("table")).to_contain_text("Hospitals checked; CCTV asked.")
    page.context.close()


class TestMissingPersonEndToEnd:
    def test_registered_sighted_worked_closed_and_all_found_by_audit(
        self, tabard: Tabard, backend: str
    ) -> None:
        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            state = enrol_assigned_j5(tabard, CASES_POLICY)
            create_user(tabard, "mp-unit", "missing_persons")
            create_user(tabard, "ps-auditor", "auditor")
            agent = ["agent", "--state", str(state)]
            with agent_running(tabard, state):
                tabard.run(
                    *agent, "secure", "enter", "--officer", COLLAR, "--pin-stdin",
                    "--acknowledge", "2026.2", stdin="402917\n583062\n",
                )  # fmt: skip
                register(tabard, agent, "low", "Sam")
                reference = register(tabard, agent, "high", "Robin")
                tabard.run(
                    *agent, "report", "sighting", reference, "--note", "Seen buying a ticket",
                    "--location", "Bus station, Testbury", *WHY,
                )  # fmt: skip
                mine = json.loads(tabard.run(*agent, "report", "cases", *WHY, "--json").stdout)
                assert {c["reference"] for c in mine["result"]["cases"]} >= {reference}

            with chromium(tabard.url, backend, kind="missing-persons") as (b, watch, cam):
                the_unit_in_the_console(b, watch, cam, tabard, reference)
                assert watch.errors == [], watch.errors
                assert watch.foreign == [], watch.foreign
                assert cam.inaccessible == [], "\n".join(cam.inaccessible)
                assert cam.cut_off == [], "\n".join(cam.cut_off)

            tabard.login("mp-unit", NEW_PASSWORD)  # changed at the console's first sign-in
            board = json.loads(tabard.run("missing-persons", "board", "--json").stdout)
            assert board["cases"][0]["reference"] == reference
            mp = ["missing-persons"]
            tabard.run(*mp, "regrade", reference, "--risk", "medium", "--reason", "Seen well")
            tabard.run(*mp, "review", reference, "--note", "Ticket office staff spoken to")
            closed = json.loads(
                tabard.run(
                    *mp, "close", reference, "--reason", "Found safe at her aunt's", "--json"
                ).stdout
            )
            assert (closed["status"], closed["outcome"], closed["risk"]) == (
                "closed", "found", "medium",
            )  # fmt: skip

            # A first sign-in: the password IT set, then a new one on the next line.
            tabard.login("ps-auditor", f"{PASSWORD}\n{NEW_PASSWORD}")
            found = json.loads(
                tabard.run(
                    "audit", "search", "--incident", reference, "--limit", "100", "--json"
                ).stdout
            )
            actions = {event["action"] for event in found["events"]}
            assert {
                "transaction.missing_person_report",
                "transaction.missing_person_update",
                "transaction.missing_person_cases",
                "missing_persons.board_read",
                "missing_persons.case_read",
                "missing_persons.regraded",
                "missing_persons.reviewed",
                "missing_persons.closed",
            } <= actions, actions
