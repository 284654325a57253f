"""Missing-person cases: a registration opens one; officers add to and read only their own
from the secure side; the unit's board orders open cases by risk and time missing and marks
overdue reviews; regrade, assign, review and close refuse bad input in words and write
nothing; every read is an audit event auditors find."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.db import Database
from mdm_server.records.case_models import MissingPersonCase, MissingPersonCaseEntry
from mdm_server.records.cases import NewCase
from mdm_server.records.filed import RecordsCall
from mdm_server.records.missing_persons import DemoMissingPersons
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.factories.missing_persons import CASES_POLICY, case_update, my_cases, registration
from tests.factories.reports import Desk
from tests.factories.staff import context_of, headers_for
from tests.server.test_secure import make_scene
from tests.support import audit_events, error_of, row_counts

BOARD = "/api/v1/missing-persons"


@pytest.fixture
def desk(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> Desk:
    return Desk(make_scene(app, client, admin_headers, enrolled, clock, CASES_POLICY))


@pytest.fixture
def unit(app: FastAPI) -> dict[str, str]:
    return headers_for(app, "missing_persons")


def someone_elses_case(app: FastAPI, reference: str = "MISPER-OTHER-1") -> str:
    """A case another officer reported, straight into the demo connector's tables."""
    context = context_of(app)
    with context.database.unit_of_work() as session:
        call = RecordsCall(
            session=session,
            transaction_id=str(uuid.uuid4()),
            collar_number="99999",
            now=context.clock(),
        )
        DemoMissingPersons().open_case(
            NewCase(
                reference=reference,
                surname="Other",
                forename="Casey",
                date_of_birth=None,
                description="Green jacket.",
                last_seen_at=context.clock(),
                last_seen_location="Fictional Lane, Fakesley",
                risk="low",
                division="south",
            ),
            call=call,
        )
    return reference


class TestRegistrationOpensACase:
    def test_the_case_carries_risk_last_seen_officer_and_division(
        self, desk: Desk, client: TestClient, unit: dict[str, str]
    ) -> None:
        reference = desk.file(registration("high"))
        case = client.get(f"{BOARD}/{reference}", headers=unit).json()
        assert case["risk"] == "high"
        assert case["status"] == "open"
        assert case["last_seen_location"] == "Demo Way, Mockton"
        assert case["reported_by"] == desk.scene.officer.collar_number
        assert case["assigned_to"] is None
        assert case["division"] == desk.scene.officer.division
        assert [entry["kind"] for entry in case["timeline"]] == ["opened"]

    def test_no_apparent_risk_is_a_grade(self, desk: Desk, client: TestClient, unit: Any) -> None:
        reference = desk.file(registration("no_apparent_risk"))
        assert client.get(f"{BOARD}/{reference}", headers=unit).json()["risk"] == (
            "no_apparent_risk"
        )

    def test_an_unknown_grade_is_refused_naming_the_grades(self, desk: Desk) -> None:
        response = desk.send(registration("extreme"))
        assert response.status_code == 422
        assert "no_apparent_risk" in response.text


class TestOfficersUpdates:
    def test_a_sighting_goes_on_the_timeline_with_who_and_where(
        self, desk: Desk, client: TestClient, unit: dict[str, str]
    ) -> None:
        reference = desk.file(registration())
        answer = desk.ok(case_update(reference, location="Bus station, Testbury"))
        assert answer == {"reference": reference, "kind": "sighting", "status": "open"}
        entry = client.get(f"{BOARD}/{reference}", headers=unit).json()["timeline"][-1]
        assert entry["kind"] == "sighting"
        assert entry["detail"] == {"location": "Bus station, Testbury"}
        assert entry["by"] == desk.scene.officer.collar_number

    def test_found_marks_the_case_found_and_further_updates_are_refused(self, desk: Desk) -> None:
        reference = desk.file(registration())
        assert desk.ok(case_update(reference, "found"))["status"] == "found"
        response = desk.send(case_update(reference, "welfare_check"))
        assert (response.status_code, error_of(response)) == (409, "case_found")

    def test_an_officer_cannot_touch_or_see_another_officers_case(
        self, app: FastAPI, desk: Desk, database: Database
    ) -> None:
        other = someone_elses_case(app)
        before = row_counts(database, MissingPersonCaseEntry)
        for body in (case_update(other), my_cases(other)):
            response = desk.send(body)
            assert (response.status_code, error_of(response)) == (404, "case_not_found")
            assert "Casey" not in response.text
        assert row_counts(database, MissingPersonCaseEntry) == before
        assert desk.ok(my_cases()) == {"cases": [], "found": False}

    def test_an_assigned_officer_sees_the_case(
        self, app: FastAPI, desk: Desk, client: TestClient, unit: dict[str, str]
    ) -> None:
        other = someone_elses_case(app)
        collar = desk.scene.officer.collar_number
        assigned = client.post(
            f"{BOARD}/{other}/assign", json={"collar_number": collar}, headers=unit
        )
        assert assigned.status_code == 200, assigned.text
        [shown] = desk.ok(my_cases())["cases"]
        assert (shown["reference"], shown["assigned_to"]) == (other, collar)
        assert desk.ok(my_cases(other))["case"]["timeline"][0]["kind"] == "opened"

    def test_reading_own_cases_is_recorded_with_the_people_named(
        self, desk: Desk, database: Database, client: TestClient
    ) -> None:
        reference = desk.file(registration())
        desk.ok(my_cases(reference))
        [event] = audit_events(database, "transaction.missing_person_cases")
        assert event.detail["references"] == [reference]
        auditor = headers_for(client.app, "auditor")  # type: ignore[arg-type]
        found = client.get(
            "/api/v1/audit/search",
            params={"surname": "Example", "forename": "Robin"},
            headers=auditor,
        ).json()["events"]
        assert "transaction.missing_person_cases" in {e["action"] for e in found}


class TestBoard:
    def test_open_cases_by_risk_then_longest_missing_and_overdue_marked(
        self,
        desk: Desk,
        client: TestClient,
        unit: dict[str, str],
        clock: FakeClock,
    ) -> None:
        low = desk.file(registration("low", last_seen_at="2026-11-01T10:00:00Z"))
        high_recent = desk.file(registration("high", last_seen_at="2026-11-21T18:00:00Z"))
        high_longer = desk.file(registration("high", last_seen_at="2026-11-20T18:00:00Z"))
        clock.advance(minutes=90)  # past the hourly review of a high-risk case
        unit = headers_for(client.app, "missing_persons")  # type: ignore[arg-type]
        board = client.get(BOARD, headers=unit).json()
        assert [case["reference"] for case in board["cases"]] == [high_longer, high_recent, low]
        overdue = {case["reference"]: case["review_overdue"] for case in board["cases"]}
        assert overdue == {high_longer: True, high_recent: True, low: False}
        assert board["overdue"] == 2
        assert board["review_intervals_minutes"]["high"] == 60

    def test_a_review_resets_the_clock(
        self, desk: Desk, client: TestClient, unit: dict[str, str], clock: FakeClock
    ) -> None:
        reference = desk.file(registration("high"))
        clock.advance(minutes=90)
        unit = headers_for(client.app, "missing_persons")  # type: ignore[arg-type]
        assert client.get(f"{BOARD}/{reference}", headers=unit).json()["review_overdue"]
        reviewed = client.post(
            f"{BOARD}/{reference}/reviews", json={"note": "Family called back."}, headers=unit
        )
        assert reviewed.status_code == 200
        assert reviewed.json()["review_overdue"] is False

    def test_every_read_is_an_audit_event_found_by_the_case(
        self, desk: Desk, client: TestClient, unit: dict[str, str], database: Database
    ) -> None:
        reference = desk.file(registration())
        client.get(BOARD, headers=unit)
        client.get(f"{BOARD}/{reference}", headers=unit)
        auditor = headers_for(client.app, "auditor")  # type: ignore[arg-type]
        events = client.get(
            "/api/v1/audit/search", params={"incident": reference}, headers=auditor
        ).json()["events"]
        actions = {event["action"] for event in events}
        assert {"missing_persons.board_read", "missing_persons.case_read"} <= actions


class TestUnitActions:
    def test_regrade_assign_review_close_each_on_the_timeline(
        self, desk: Desk, client: TestClient, unit: dict[str, str], database: Database
    ) -> None:
        reference = desk.file(registration("low"))
        collar = desk.scene.officer.collar_number
        steps: list[tuple[str, dict[str, Any]]] = [
            ("regrade", {"risk": "high", "reason": "Needs medication daily."}),
            ("assign", {"collar_number": collar, "reason": "Knows the family."}),
            ("reviews", {"note": "Searches of the park continue."}),
            ("close", {"outcome": "found", "reason": "Found safe at a friend's house."}),
        ]
        for action, body in steps:
            response = client.post(f"{BOARD}/{reference}/{action}", json=body, headers=unit)
            assert response.status_code == 200, (action, response.text)
        case = response.json()
        assert (case["status"], case["outcome"], case["risk"]) == ("closed", "found", "high")
        kinds = [entry["kind"] for entry in case["timeline"]]
        assert kinds == ["opened", "regraded", "assigned", "review", "closed"]
        assert case["timeline"][1]["detail"] == {"from": "low", "to": "high"}
        for action in ("regraded", "assigned", "reviewed", "closed"):
            assert audit_events(database, f"missing_persons.{action}"), action

    @pytest.mark.parametrize(
        ("action", "body", "status", "code"),
        [
            ("regrade", {"risk": "medium", "reason": "Same again."}, 409, "same_risk"),
            ("regrade", {"risk": "high", "reason": "  "}, 422, "invalid_request"),
            ("regrade", {"risk": "severe", "reason": "No such grade."}, 422, "invalid_request"),
            ("close", {"reason": ""}, 422, "invalid_request"),
            ("assign", {"collar_number": "424242"}, 404, "officer_not_found"),
            ("reviews", {}, 422, "invalid_request"),
        ],
    )
    def test_bad_input_is_refused_in_words_and_nothing_written(
        self,
        desk: Desk,
        client: TestClient,
        unit: dict[str, str],
        database: Database,
        action: str,
        body: dict[str, Any],
        status: int,
        code: str,
    ) -> None:
        reference = desk.file(registration("medium"))
        before = row_counts(database, MissingPersonCase, MissingPersonCaseEntry)
        response = client.post(f"{BOARD}/{reference}/{action}", json=body, headers=unit)
        assert (response.status_code, error_of(response)) == (status, code), response.text
        assert "Traceback" not in response.text
        assert row_counts(database, MissingPersonCase, MissingPersonCaseEntry) == before
        assert not audit_events(database, f"missing_persons.{action.rstrip('s')}d")

    def test_an_unknown_case_is_not_found(self, client: TestClient, unit: dict[str, str]) -> None:
        response = client.post(
            f"{BOARD}/MISPER-NONE/regrade",
            json={"risk": "high", "reason": "Why not."},
            headers=unit,
        )
        assert (response.status_code, error_of(response)) == (404, "case_not_found")
        assert "MISPER-NONE" in response.json()["detail"]

    def test_closing_a_closed_case_is_refused(
        self, desk: Desk, client: TestClient, unit: dict[str, str]
    ) -> None:
        reference = desk.file(registration())
        body = {"reason": "Found safe."}
        assert client.post(f"{BOARD}/{reference}/close", json=body, headers=unit).status_code == 200
        again = client.post(f"{BOARD}/{reference}/close", json=body, headers=unit)
        assert (again.status_code, error_of(again)) == (409, "case_closed")


class TestWhoSeesWhat:
    def test_a_supervisor_sees_counts_for_their_division_and_no_names(
        self, app: FastAPI, desk: Desk, client: TestClient
    ) -> None:
        desk.file(registration("high"))
        desk.file(registration("high"))
        someone_elses_case(app)  # in the south division
        division = desk.scene.officer.division
        supervisor = headers_for(app, "supervisor", division=division)
        response = client.get(f"{BOARD}/counts", headers=supervisor)
        assert response.status_code == 200
        body = response.json()
        assert body["open_by_risk"] == {"high": 2, "medium": 0, "low": 0, "no_apparent_risk": 0}
        assert body["total"] == 2
        assert "Example" not in response.text and "Robin" not in response.text

    @pytest.mark.parametrize("role", ["it_admin", "auditor", "supervisor", "officer"])
    def test_other_roles_are_refused_the_board_and_cases(
        self, app: FastAPI, desk: Desk, client: TestClient, role: str
    ) -> None:
        reference = desk.file(registration())
        headers = headers_for(app, role)
        for url in (BOARD, f"{BOARD}/{reference}"):
            response = client.get(url, headers=headers)
            assert response.status_code == 403, (role, url)
            assert "Example" not in response.text
        close = client.post(f"{BOARD}/{reference}/close", json={"reason": "x y z"}, headers=headers)
        assert close.status_code == 403

    @pytest.mark.parametrize("role", ["it_admin", "auditor", "officer", "missing_persons"])
    def test_only_supervisors_get_the_counts(
        self, app: FastAPI, client: TestClient, role: str
    ) -> None:
        assert client.get(f"{BOARD}/counts", headers=headers_for(app, role)).status_code == 403
