"""The supervisor's demand view through the CLI against a running server: tables of what the
API returns, and `--json`."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from mdm_server.audit.service import Actor, record
from mdm_server.cli.demand import show_section
from tests.cli.conftest import REPR_MARKS, Live, cells, row_of
from tests.factories.staff import context_of


def record_transactions(
    live: Live, *, division: str, kinds: list[str], outcome: str = "answered"
) -> None:
    """Transactions as the gateway records them, in `division`, this hour: a minute ago, or
    the hour's start when a minute ago was the hour before."""
    context = context_of(live.app)
    now = live.clock()
    when = max(now - timedelta(minutes=1), now.replace(minute=0, second=0, microsecond=0))
    with context.database.unit_of_work() as session:
        for kind in kinds:
            record(
                session,
                actor=Actor(type="device", id=str(uuid.uuid4()), name="R58J530F0001"),
                action=f"transaction.{kind}",
                now=when,
                detail={
                    "collar_number": "4021",
                    "division": division,
                    "type": kind,
                    "purpose": "INVESTIGATION",
                    "outcome": outcome,
                },
            )


class TestDemand:
    def test_the_view_as_tables_and_as_json(self, live: Live) -> None:
        record_transactions(
            live, division="north", kinds=["person_search", "person_search", "vehicle_search"]
        )
        record_transactions(live, division="south", kinds=["person_search"])
        record_transactions(
            live, division="north", kinds=["person_search"], outcome="refused:not_compliant"
        )
        live.login("supervisor", division="north")

        view = live.json("demand", "--days", "7")
        assert view["division"] == "north" and view["hourly"]["total"] == 3
        assert len(view["daily"]["starts"]) == 7

        shown = live.ok("demand", "--days", "7").stdout
        assert "Demand in division north, as of " in shown and " UTC." in shown
        # Answered demand is the total; the refused transaction is shown apart, never added.
        hourly = shown[
            shown.index("Hourly (total 3, refused total 1") : shown.index("Last week (total 0")
        ]
        assert cells(row_of(hourly, "person_search")) == [
            "from",
            "person_search",
            "vehicle_search",
            "refused",
            "unanswered",
        ]
        this_hour = live.clock().replace(minute=0, second=0, microsecond=0)
        row = cells(row_of(hourly, this_hour.strftime("%Y-%m-%d %H:%M:%S UTC")))
        assert row[1:] == ["2", "1", "1", "0"]
        assert len([line for line in hourly.splitlines() if " UTC " in line]) == 24
        # Each type beside the same 24 hours last week; the busiest hours a row per hour.
        by_type = shown[shown.index("By type") : shown.index("Busiest")]
        assert cells(row_of(by_type, "same 24h last week")) == [
            "type",
            "last 24h",
            "same 24h last week",
        ]
        assert cells(row_of(by_type, "vehicle_search")) == ["vehicle_search", "1", "0"]
        busiest = shown[shown.index("Busiest") : shown.index("Daily (total 3")]
        assert "weeks" in busiest and "4" in cells(row_of(busiest, "weeks"))
        assert cells(row_of(busiest, "monday"))[:3] == ["hour", "monday", "tuesday"]
        assert cells(row_of(busiest, "│ 23 "))[0] == "23"
        workload = shown[shown.index("Workload") :]
        assert cells(row_of(workload, "safeguarding")) == ["from", "missing person", "safeguarding"]
        assert cells(row_of(shown[shown.index("Health") :], "not seen 24h")) == [
            "not seen 24h",
            "0",
        ]
        assert not any(mark in shown for mark in REPR_MARKS), shown

    def test_only_a_supervisor_with_a_division(self, live: Live) -> None:
        live.login("officer")
        assert "(forbidden)" in live.refused("demand")


class TestSections:
    def test_a_section_the_api_adds_is_shown_without_a_change(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """As the view grows (refused transactions apart from answered ones, say), each run of
        buckets becomes a table and each other value a name and a value."""
        starts = ["2026-11-21T08:00:00Z", "2026-11-21T09:00:00Z"]
        show_section(
            ("refused",),
            {
                "total": 3,
                "hourly": {
                    "starts": starts,
                    "series": [{"type": "person_search", "counts": [1, 2]}],
                    "total": 3,
                },
                "by_reason": {"not_compliant": 2, "no_incident": 1},
            },
        )
        shown = capsys.readouterr().out
        assert cells(row_of(shown, "│ total")) == ["total", "3"]
        assert "Refused: hourly (total 3)" in shown
        assert cells(row_of(shown, "2026-11-21 09:00:00 UTC")) == ["2026-11-21 09:00:00 UTC", "2"]
        assert "Refused: by reason" in shown
        assert cells(row_of(shown, "not compliant")) == ["not compliant", "2"]
