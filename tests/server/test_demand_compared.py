"""The demand view's newer parts over the API: the last 24 hours beside the same 24 hours a
week before (counted to the same minute), each type compared, the busiest hours of the last
four whole weeks by day and hour (UTC, Monday first); counts only, never a name; and every
role but a supervisor with a division refused, on the API, the page and its live part."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.audit.service import Actor, record
from mdm_server.auth.roles import STAFF_ROLES
from tests.conftest import FakeClock
from tests.factories.staff import context_of, headers_for

DEMAND = "/api/v1/demand"
NOW = datetime(2026, 12, 4, 17, 30, tzinfo=UTC)  # a Friday
SURNAME, COLLAR, OFFICER = "Fictional-Surname", "4021", "pc-4021"


def made(app: FastAPI, at: dict[datetime, tuple[str, str, str]]) -> None:
    """Transactions at each time: (type, outcome, division), about a named person."""
    with context_of(app).database.unit_of_work() as session:
        for when, (kind, outcome, division) in at.items():
            record(
                session,
                actor=Actor(type="staff", id="u4021", name=OFFICER, role="officer"),
                action=f"transaction.{kind}",
                now=when,
                detail={
                    "type": kind,
                    "purpose": "INVESTIGATION",
                    "outcome": outcome,
                    "division": division,
                    "collar_number": COLLAR,
                    "subject": {"surname": SURNAME},
                },
            )


def demand(app: FastAPI, client: TestClient) -> dict[str, Any]:
    supervisor = headers_for(app, "supervisor", division="north")
    response = client.get(DEMAND, headers=supervisor)
    assert response.status_code == 200, response.text
    return dict(response.json())


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


class TestLastWeek:
    def test_the_same_hours_a_week_before_counted_to_the_same_minute(
        self, app: FastAPI, client: TestClient, clock: FakeClock
    ) -> None:
        clock.now = NOW
        made(
            app,
            {
                at(27, 17, 10): ("person_search", "answered", "north"),  # the running hour's twin
                at(27, 17, 50): ("person_search", "answered", "north"),  # later than now's minute
                at(26, 18, 5): ("vehicle_search", "answered", "north"),  # the first hour
                at(26, 17, 55): ("vehicle_search", "answered", "north"),  # a week and a day ago
                at(27, 12, 0): ("vehicle_search", "refused:x", "north"),  # refused: apart
                at(27, 12, 1): ("vehicle_search", "answered", "south"),  # another division
                NOW.replace(minute=5): ("person_search", "answered", "north"),
            },
        )
        view = demand(app, client)
        week = view["last_week"]
        assert week["starts"][0] == "2026-11-26T18:00:00Z"
        assert week["starts"][-1] == "2026-11-27T17:00:00Z"
        answered = {one["type"]: one["counts"] for one in week["series"]}
        assert answered == {
            "person_search": [0] * 23 + [1],
            "vehicle_search": [1] + [0] * 23,
        }
        assert week["total"] == 2 and week["refused_total"] == 1
        assert view["by_type"] == [
            {"type": "person_search", "last_24h": 1, "same_24h_last_week": 1},
            {"type": "vehicle_search", "last_24h": 0, "same_24h_last_week": 1},
        ]


class TestBusiestHours:
    def test_whole_weeks_by_day_and_hour_monday_first(
        self, app: FastAPI, client: TestClient, clock: FakeClock
    ) -> None:
        clock.now = NOW
        made(
            app,
            {
                at(30, 9, 15): ("person_search", "answered", "north"),  # Monday 09:00
                at(29, 23, 59): ("person_search", "answered", "north"),  # Sunday 23:00
                datetime(2026, 11, 6, 17, 0, tzinfo=UTC): ("person_search", "answered", "north"),
                datetime(2026, 11, 6, 16, 59, tzinfo=UTC): ("person_search", "answered", "north"),
                at(30, 9, 16): ("person_search", "refused:x", "north"),  # not answered
                at(30, 9, 17): ("person_search", "answered", "south"),  # another division
                NOW.replace(minute=1): ("person_search", "answered", "north"),  # still running
            },
        )
        busiest = demand(app, client)["busiest"]
        assert busiest["since"] == "2026-11-06T17:00:00Z"
        assert busiest["until"] == "2026-12-04T17:00:00Z"
        assert busiest["weeks"] == 4 and busiest["total"] == 3
        hours = {row["hour"]: row for row in busiest["hours"]}
        assert list(hours) == list(range(24))
        assert hours[9]["monday"] == 1 and hours[23]["sunday"] == 1
        assert hours[17]["friday"] == 1  # four weeks ago to the hour, counted; a minute before not
        assert sum(sum(v for k, v in row.items() if k != "hour") for row in hours.values()) == 3


class TestCountsOnly:
    def test_nothing_names_a_person(
        self, app: FastAPI, client: TestClient, clock: FakeClock
    ) -> None:
        clock.now = NOW
        made(app, {at(30, 9, 15): ("person_search", "answered", "north")})
        shown = json.dumps(demand(app, client))
        for name in (SURNAME, COLLAR, OFFICER, "u4021"):
            assert name not in shown


class TestWhoMaySee:
    def test_every_role_but_a_supervisor_is_refused(self, app: FastAPI, client: TestClient) -> None:
        assert client.get(DEMAND).status_code == 401
        for role in STAFF_ROLES:
            response = client.get(DEMAND, headers=headers_for(app, role, division="north"))
            assert response.status_code == (200 if role == "supervisor" else 403), role
