"""The supervisor's demand page in Chromium against a live `tabard serve`, over four weeks of
a division's transactions, its departments' open work and its reports on the map (and another
division's, which must not show): photographed at 1400 and 800 px wide into
test-artifacts/console/<backend>-demand/, axe-core clean, nothing fetched from elsewhere, and
the page's live part proven to refresh itself: a transaction recorded while the page is open
shows up without a reload, its charts redrawn and its open tables left open."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import insert

from mdm_server.audit.service import Actor, record
from mdm_server.auth.models import StaffUser
from mdm_server.config import Settings
from mdm_server.db import Database
from mdm_server.devices.models import Device
from mdm_server.records.missing_persons import DemoMissingPersons
from mdm_server.records.safeguarding_demo import DemoSafeguarding
from tests.e2e.browser import chromium, drawn, new_page
from tests.e2e.harness import Tabard
from tests.e2e.test_console_browser import PASSWORD, create_user, sign_in
from tests.e2e.test_map_browser import file_reports
from tests.factories.departments import open_case, raise_referral

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(600)]
KINDS = ("person_search", "vehicle_search", "incident_search", "missing_person_report")
# Names that exist in the records the transactions are about and in the officers' accounts:
# none of them may reach a supervisor's page.
SUBJECT, OFFICER = "Fictional-Surname", "pc-north-1"
CHARTS = 8
COMPLIANCE = ("compliant", "compliant", "compliant", "in_grace", "non_compliant", None)


def database_of(tabard: Tabard) -> Iterator[Database]:
    settings = Settings(data_dir=tabard.root / "data", database_url=tabard.database_url)
    database = Database.from_settings(settings)
    try:
        yield database
    finally:
        database.dispose()


def transaction(session, *, division: str, at: datetime, kind: str, outcome: str) -> None:  # type: ignore[no-untyped-def]
    """One transaction as the gateway records it, about a named (fictional) person."""
    record(
        session,
        actor=Actor(type="staff", id=str(uuid.uuid4()), name=OFFICER, role="officer"),
        action=f"transaction.{kind}",
        now=at,
        detail={
            "collar_number": "4021",
            "division": division,
            "type": kind,
            "purpose": "MISSING_PERSON" if kind == "missing_person_report" else "INVESTIGATION",
            "outcome": outcome,
            "subject": {"surname": SUBJECT, "forename": "Alex"},
        },
    )


def four_weeks_of_demand(tabard: Tabard, now: datetime) -> None:
    """A busy afternoon and evening pattern, busier on Fridays, over four weeks in `north`; a
    little in `south`; a few refusals; officers and their devices in `north`."""
    rng = random.Random(22)
    for database in database_of(tabard):
        with database.unit_of_work() as session:
            for hours_ago in range(28 * 24 + 8, 0, -1):
                at = now - timedelta(hours=hours_ago) + timedelta(minutes=rng.randint(0, 59))
                busy = 1 + (3 if 14 <= at.hour <= 22 else 0) + (4 if at.weekday() == 4 else 0)
                for _ in range(rng.randint(0, busy)):
                    kind = rng.choice(KINDS)
                    outcome = "refused:purpose_not_allowed" if rng.random() < 0.05 else "answered"
                    transaction(session, division="north", at=at, kind=kind, outcome=outcome)
                if hours_ago % 24 == 0:
                    transaction(
                        session, division="south", at=at, kind="person_search", outcome="answered"
                    )
            officers = [
                {
                    "id": uuid.uuid4(),
                    "username": f"pc-north-{n}",
                    "display_name": "",
                    "role": "officer",
                    "collar_number": f"40{n:02d}",
                    "division": "north",
                    "must_change_password": False,
                    "sessions_valid_after": now,
                    "created_at": now,
                }
                for n in range(1, 4)
            ]
            session.execute(insert(StaffUser), officers)
            session.execute(
                insert(Device),
                [
                    {
                        "id": uuid.uuid4(),
                        "serial": f"R58M{n:08d}",
                        "manufacturer": "samsung",
                        "model": "SM-J530F",
                        "android_version": "9",
                        "sdk": 28,
                        "security_patch": date(2026, 10, 1),
                        "warranty_bit": 0,
                        "state": "active",
                        "group_name": "response",
                        "officer_id": officers[n % 3]["id"],
                        "enrolled_at": now - timedelta(days=90),
                        "last_seen_at": now - timedelta(hours=2 if n != 5 else 40),
                        "compliance_status": COMPLIANCE[n],
                    }
                    for n in range(len(COMPLIANCE))
                ],
            )


# Open missing-person cases by division and risk, and referrals by division and hours waiting.
CASES = {"north": ("high", "high", "medium", "no_apparent_risk"), "south": ("high",) * 5}
REFERRALS = {"north": (2, 30, 50), "south": (1, 2, 3, 40)}


def departments_open_work(tabard: Tabard, now: datetime) -> None:
    """Cases and referrals through the demo records connector, as filings would open them."""
    for database in database_of(tabard):
        with database.unit_of_work() as session:
            for division, risks in CASES.items():
                for risk in risks:
                    open_case(
                        DemoMissingPersons(),
                        session,
                        division=division,
                        now=now,
                        risk=risk,
                        surname=SUBJECT,
                    )
            for division, ages in REFERRALS.items():
                for hours in ages:
                    at = now - timedelta(hours=hours)
                    raise_referral(
                        DemoSafeguarding(), session, division=division, at=at, surname=SUBJECT
                    )


def one_more(tabard: Tabard) -> None:
    for database in database_of(tabard):
        with database.unit_of_work() as session:
            transaction(
                session,
                division="north",
                at=datetime.now(UTC),
                kind="vehicle_search",
                outcome="answered",
            )


class TestDemandInABrowser:
    def test_the_division_s_live_picture(self, tabard: Tabard, backend: str) -> None:
        tabard.extra_env["TABARD_DEMAND_REFRESH_S"] = "2"  # the page's poll, kept short here
        tabard.bootstrap("admin", PASSWORD)
        four_weeks_of_demand(tabard, datetime.now(UTC))
        departments_open_work(tabard, datetime.now(UTC))
        file_reports(tabard)  # north's reports, a dozen of them in the last 24 hours
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            create_user(tabard, "sgt-north", "supervisor", "--division", "north")
            with chromium(tabard.url, f"{backend}-demand") as (browser, watch, camera):
                page = new_page(browser, watch)
                sign_in(page, tabard.url, "sgt-north", PASSWORD, first_time=True)
                assert page.url.endswith("/console/demand")
                drawn(page)
                # Hourly with last week, busiest hours, missing persons, referrals, health,
                # the map, daily, workload.
                expect(page.locator("[data-chart][data-drawn=true] svg")).to_have_count(CHARTS)
                text = page.locator("main").inner_text()
                assert SUBJECT not in text and OFFICER not in text and "4021" not in text
                assert "MISPER-" not in text and "SG-DEMO-" not in text
                # North's own work only: 4 open cases (2 high), 3 referrals waiting, 2 overdue.
                expect(page.locator("#missing-title")).to_have_text(
                    "Missing persons: 4 open cases, by risk"
                )
                risks = page.locator("#missing-persons-open tbody tr")
                expect(risks.first).to_have_text("high2")
                expect(page.locator("#referrals-title")).to_have_text(
                    "Safeguarding: 3 referrals waiting for a decision, 2 overdue"
                )
                expect(page.locator("#map-title")).to_have_text("The last 24 hours on the map")
                expect(page.locator("[data-busiest]")).to_contain_text("Fri ")
                legend = page.locator("ul.legend").first
                expect(legend).to_contain_text("same hour last week")
                for summary in page.locator("details summary").all():
                    summary.click()  # each chart's table, open beside it
                camera.shoot(page, "supervisor demand")

                tile = page.locator("[data-tile=last-24h] .figure")
                before = int(tile.inner_text().replace(",", ""))
                chart = page.locator("[data-chart]").first
                chart.evaluate("element => { element.dataset.old = 'yes'; }")
                one_more(tabard)
                # No reload: the poll brings the new figure in; wait on the page changing.
                expect(tile).to_have_text(f"{before + 1:,}", timeout=30_000)
                expect(page.locator("[data-chart][data-old]")).to_have_count(0)  # swapped
                drawn(page)  # and the fresh charts drawn
                expect(page.locator("[data-chart][data-drawn=true] svg")).to_have_count(CHARTS)
                expect(page.locator("details[open]")).to_have_count(page.locator("details").count())
                assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
                camera.shoot(page, "supervisor demand after a refresh")
                page.context.close()
                assert watch.errors == [], watch.errors
                assert watch.foreign == [], watch.foreign
                assert camera.inaccessible == [], "\n".join(camera.inaccessible)
                assert camera.cut_off == [], "\n".join(camera.cut_off)
                assert all(path.stat().st_size > 5_000 for path in camera.taken)
