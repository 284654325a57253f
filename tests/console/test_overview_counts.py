"""Counts and charts on the supervisor's and IT's overview pages: a count of one in the
singular, a chart with nothing to draw in words, each breakdown table with its total."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from tests.console.conftest import Browser
from tests.console.reading import one_of_many
from tests.console.test_charts import Elements
from tests.console.test_people_pages import tile
from tests.factories.devices import SimulatedDevice
from tests.server.test_audit_search import person
from tests.server.test_secure import Scene


class TestDemand:
    def test_counts_of_one_read_in_the_singular_and_empty_charts_say_so(
        self, scene: Scene, browser_for: Callable[..., Browser]
    ) -> None:
        token = str(scene.first_entry()["session_token"])
        assert scene.transact(token, person("Alpha")).status_code == 200
        page = browser_for("supervisor", division=scene.officer.division).get(
            "/console/demand?days=1"
        )
        assert tile(page.text, "transaction answered, last 24 h") == "1"
        assert tile(page.text, "transaction answered, last 1 day") == "1"
        assert tile(page.text, "device in the division") == "1"
        assert not one_of_many(page.text)
        charts = [chart for tag, chart in Elements(page.text).found if "data-chart" in chart]
        # Hourly, health and daily; the busiest hours (the running hour is left out) and the
        # workload charts are empty.
        assert len(charts) == 3
        for chart in (charts[0], charts[2]):  # the current hour and today, not over: marked so
            labels = json.loads(chart["data-chart"] or "")["option"]["xAxis"]["data"]
            assert labels[-1].endswith(" so far")
        assert (
            '<p class="muted empty" data-empty>'
            "No missing-person or safeguarding work in this period.</p>"
        ) in page.text
        compliance = re.search(r"Devices by compliance</caption>.*?</table>", page.text, re.S)
        assert compliance and '<th scope="row">In all</th><td class="num">1</td>' in (
            compliance.group(0)
        )

    def test_a_quiet_division_sees_words_not_empty_axes(
        self, browser_for: Callable[..., Browser]
    ) -> None:
        page = browser_for("supervisor", division="quiet").get("/console/demand").text
        assert "data-chart" not in page
        assert page.count("No transactions in this period.") == 2  # per hour, per day
        assert "No devices in the division." in page
        assert "No missing-person case is open." in page
        assert "No referral waits for a decision." in page
        assert "There is no map of division quiet on this server." in page
        assert "As a table" not in page  # no table of noughts


class TestFleet:
    def test_each_breakdown_has_its_total_and_one_device_is_a_device(
        self, browser_for: Callable[..., Browser], enrolled: SimulatedDevice
    ) -> None:
        page = browser_for("it_admin").get("/console/fleet").text
        assert tile(page, "active device") == "1"
        totals = re.findall(r'<th scope="row">In all</th><td class="num">(\d+)</td>', page)
        assert totals == ["1"] * 6  # each of the six breakdowns
        assert not one_of_many(page)
