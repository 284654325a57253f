"""The departments' open work on the supervisor's demand view (`departments` in
GET /api/v1/demand): the division's open missing-person cases by risk and its referrals waiting
and overdue, counted through the records connector; another division's never, and never a
name or a reference."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.records.filed import RecordsCall
from tests.factories import departments as factory
from tests.factories.staff import context_of, headers_for

DEMAND = "/api/v1/demand"
SURNAME = "Fictional-Surname"


def open_case(app: FastAPI, division: str, risk: str, *, closed: bool = False) -> None:
    context = context_of(app)
    now = context.clock()
    with context.database.unit_of_work() as session:
        reference = factory.open_case(
            context.records, session, division=division, now=now, risk=risk, surname=SURNAME
        )
        if closed:
            call = RecordsCall(session, str(uuid.uuid4()), "4021", now, division)
            context.records.close(reference, "found", "Found safe at home.", call=call)


def raise_referral(app: FastAPI, division: str, *, hours_ago: float) -> None:
    context = context_of(app)
    at = context.clock() - timedelta(hours=hours_ago)
    with context.database.unit_of_work() as session:
        factory.raise_referral(context.records, session, division=division, at=at, surname=SURNAME)


def departments(app: FastAPI, client: TestClient, division: str = "north") -> dict[str, object]:
    supervisor = headers_for(app, "supervisor", division=division)
    response = client.get(DEMAND, headers=supervisor)
    assert response.status_code == 200, response.text
    assert SURNAME not in response.text and "MISPER-" not in response.text
    assert "SG-DEMO-" not in response.text
    return dict(response.json()["departments"])


class TestDepartmentsOnTheDemandView:
    def test_nothing_open_is_every_grade_at_zero(self, app: FastAPI, client: TestClient) -> None:
        assert departments(app, client) == {
            "missing_persons_open": {"high": 0, "medium": 0, "low": 0, "no_apparent_risk": 0},
            "missing_persons_total": 0,
            "referrals_waiting": 0,
            "referrals_overdue": 0,
        }

    def test_the_division_s_own_open_work_by_risk_and_deadline(
        self, app: FastAPI, client: TestClient
    ) -> None:
        for risk in ("high", "high", "low"):
            open_case(app, "north", risk)
        open_case(app, "north", "medium", closed=True)  # closed: not open work
        open_case(app, "south", "high")
        for hours in (1, 23, 25, 70):  # the deadline is 24 hours by default
            raise_referral(app, "north", hours_ago=hours)
        raise_referral(app, "south", hours_ago=30)
        assert departments(app, client) == {
            "missing_persons_open": {"high": 2, "medium": 0, "low": 1, "no_apparent_risk": 0},
            "missing_persons_total": 3,
            "referrals_waiting": 4,
            "referrals_overdue": 2,
        }
        south = departments(app, client, "south")
        assert south["missing_persons_total"] == 1
        assert (south["referrals_waiting"], south["referrals_overdue"]) == (1, 1)
