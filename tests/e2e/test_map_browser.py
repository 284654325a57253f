"""The supervisor's division map in a real browser (headless Chromium) against a live `tabard
serve`: the map draws the division's outline, its reports as shapes by kind and their density,
with the counts beside it; filtering by kind works by clicking. Photographed at 1400 and 800 px
wide into test-artifacts/console/<backend>-map/; axe-core clean; nothing fetched from anywhere
but the server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from mdm_server.db import build_engine
from mdm_server.geo.maps import MapSource
from mdm_server.geo.placement import place
from mdm_server.records.models import FiledReport
from tests.conftest import make_settings
from tests.e2e.browser import SETTLED, chromium, drawn, new_page
from tests.e2e.harness import Tabard
from tests.e2e.test_console_browser import PASSWORD, create_user, nav, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(300)]
STREETS = ("Gannet Street", "Kelpie Row", "Skerry Way", "Heronsgate", "Saltcote Road")
KINDS = ("incident_report", "incident_report", "stop_and_search", "missing_person_report")


def file_reports(tabard: Tabard, count: int = 60) -> None:
    """Reports as the demo connector files them, placed on north's streets and beyond."""
    url = tabard.database_url or f"sqlite:///{tabard.root / 'data' / 'tabard.db'}"
    engine = build_engine(make_settings(tabard.root, database_url=url))
    north = MapSource().division("north")
    now = datetime.now(UTC)
    with Session(engine) as session:
        for n in range(count):
            text = f"{n % 40} {STREETS[n % 3]}" if n % 4 else f"near the green, number {n}"
            longitude, latitude = place({"location": text}, north) or (None, None)
            session.add(
                FiledReport(
                    reference=f"INC-DEMO-{n:08X}",
                    kind=KINDS[n % len(KINDS)],
                    transaction_id=uuid.uuid4(),
                    filed_by="4021",
                    filed_at=now - timedelta(hours=n * 2),
                    fields={"location": text},
                    division="north",
                    latitude=latitude,
                    longitude=longitude,
                )
            )
        session.commit()
    engine.dispose()


class TestMapInABrowser:
    def test_the_supervisor_reads_the_division_map_and_filters_it(
        self, tabard: Tabard, backend: str
    ) -> None:
        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            create_user(tabard, "sgt-north", "supervisor", "--division", "north")
            file_reports(tabard)
            with chromium(tabard.url, f"{backend}-map") as (browser, watch, camera):
                page = new_page(browser, watch)
                sign_in(page, tabard.url, "sgt-north", PASSWORD, first_time=True)
                nav(page, "Map")
                drawn(page)
                chart = page.locator("[data-chart].map")
                # The boundary and twelve streets at least, beside the points' shapes.
                assert chart.locator("svg path").count() >= 13
                expect(page.locator("h1")).to_have_text("Map: Northmoor (fictional)")
                rows = page.locator("table tbody tr")
                expect(rows.filter(has_text="incident report")).to_contain_text("30")
                camera.shoot(page, "supervisor map")
                page.get_by_role("checkbox", name="stop and search").check()
                page.get_by_label("Period").select_option("28d")
                page.get_by_role("button", name="Show").click()
                page.wait_for_url("**kind=stop_and_search**")
                drawn(page)
                expect(rows).to_have_count(1)
                expect(rows.first).to_contain_text("stop and search")
                expect(rows.first).to_contain_text("square")  # its shape, whatever else is shown
                camera.shoot(page, "supervisor map stop and search")
                # Out of sight (0 by 0 px) and back: the map waits, then fits its box again.
                height = chart.evaluate("element => element.style.height")
                chart.evaluate("element => { element.hidden = true; element.style.height = '0'; }")
                page.evaluate(SETTLED)
                chart.evaluate(
                    "(element, height) => {"
                    " element.hidden = false; element.style.height = height; }",
                    height,
                )
                page.evaluate(SETTLED)
                assert chart.locator("svg").get_attribute("width") == str(
                    chart.evaluate("element => element.clientWidth")
                )
                page.context.close()
                assert watch.errors == [], watch.errors
                assert watch.foreign == [], watch.foreign
                assert camera.inaccessible == [], "\n".join(camera.inaccessible)
                assert camera.cut_off == [], "\n".join(camera.cut_off)
