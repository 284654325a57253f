"""Incident reports updated through the secure side: each version kept with who, when and why;
unknown references, other kinds, fields a report lacks and failed filings refused in words."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from mdm_server.db import Database
from mdm_server.records.filed import RecordsCall
from mdm_server.records.models import FiledReport, FiledReportVersion, ReportAnnotation
from mdm_server.secure import reports
from mdm_server.secure.connector import DemoConnector, RecordsUnavailableError
from mdm_server.secure.transaction_schemas import IncidentReportUpdate
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.factories.reports import (
    INCIDENT_REPORT,
    MISSING_PERSON_REPORT,
    REPORTS_POLICY,
    Desk,
    lookup,
    update,
)
from tests.factories.secure import NEW_PIN, assign, enter, officer_with_pin
from tests.factories.staff import context_of
from tests.server.test_secure import POLICY, make_scene
from tests.support import WAIT_S, audit_events, error_of, row_counts, wait_for

TABLES = (FiledReport, FiledReportVersion, ReportAnnotation)


@pytest.fixture
def desk(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> Desk:
    return Desk(make_scene(app, client, admin_headers, enrolled, clock, REPORTS_POLICY))


class TestIncidentReportUpdate:
    def test_an_update_is_the_next_version_with_who_when_and_why(self, desk: Desk) -> None:
        reference = desk.file(INCIDENT_REPORT)
        filed_at = desk.scene.clock()
        desk.scene.clock.advance(minutes=5)
        answer = desk.ok(update(reference, location="Rear of 12 Sample Road, Testbury"))
        assert answer == {"reference": reference, "version": 2, "changed": ["location"]}
        report = desk.read(reference)
        assert report["kind"] == "incident_report"
        assert report["version"] == 2
        assert report["fields"]["location"] == "Rear of 12 Sample Road, Testbury"
        assert report["fields"]["summary"] == INCIDENT_REPORT["report"]["summary"]  # type: ignore[index]
        first, second = report["history"]
        collar = desk.scene.officer.collar_number
        assert (first["version"], first["by"], first["reason"]) == (1, collar, None)
        assert first["fields"]["location"] == "Sample Road, Testbury"
        assert first["at"] == filed_at.isoformat()
        assert second["by"] == collar
        assert second["reason"] == "Owner found the bicycle's frame number"
        assert second["changed"] == ["location"]
        assert second["at"] == desk.scene.clock().isoformat()

    def test_another_officer_with_the_purpose_may_update(
        self, app: FastAPI, desk: Desk, database: Database
    ) -> None:
        reference = desk.file(INCIDENT_REPORT)
        scene = desk.scene
        colleague = officer_with_pin(app, scene.client, scene.admin)
        assign(scene.client, scene.admin, scene.device, colleague)
        opened = enter(
            scene.client,
            scene.device,
            colleague.collar_number,
            now=scene.clock(),
            new_pin=NEW_PIN,
            acknowledge_policy_text_version="2026.2",
        )
        assert opened.status_code == 201, opened.text
        desk.token = opened.json()["session_token"]
        desk.ok(update(reference, category="other"))
        versions = desk.read(reference)["history"]
        assert [v["by"] for v in versions] == [
            scene.officer.collar_number,
            colleague.collar_number,
        ]
        [event] = audit_events(database, "transaction.incident_report_update")
        assert event.detail["collar_number"] == colleague.collar_number

    def test_the_audit_event_names_the_fields_changed_never_the_new_text(
        self, desk: Desk, database: Database
    ) -> None:
        reference = desk.file(INCIDENT_REPORT)
        desk.ok(update(reference, "Victim gave a fuller account", summary="A secret new summary"))
        [event] = audit_events(database, "transaction.incident_report_update")
        assert event.detail["subject"] == {"reference": reference, "fields": ["summary"]}
        assert event.detail["outcome"] == "answered"
        assert event.detail["version"] == 2
        assert event.detail["purpose"] == "INVESTIGATION"
        assert "A secret new summary" not in event.canonical
        assert "fuller account" not in event.canonical
        [filed] = audit_events(database, "transaction.incident_report")
        key = set(filed.detail["subject_keys"]) & set(event.detail["subject_keys"])
        assert key, "a search by the reference finds both the filing and the update"

    def test_an_unknown_reference_is_not_found_in_words_and_the_attempt_recorded(
        self, desk: Desk, database: Database
    ) -> None:
        response = desk.send(update("INC-DEMO-00000000", summary="Anything"))
        assert response.status_code == 404
        assert error_of(response) == "report_not_found"
        assert response.json()["detail"] == (
            "no report has the reference 'INC-DEMO-00000000': use the reference given when the "
            "report was filed"
        )
        [event] = audit_events(database, "transaction.incident_report_update")
        assert event.detail["outcome"] == "refused:report_not_found"

    def test_a_report_of_another_kind_is_refused_saying_what_it_is(self, desk: Desk) -> None:
        reference = desk.file(MISSING_PERSON_REPORT)
        response = desk.send(update(reference, summary="Anything"))
        assert response.status_code == 409
        assert error_of(response) == "wrong_kind_of_report"
        assert response.json()["detail"] == (
            f"{reference} is a missing person report, not an incident report: only incident "
            "reports are updated this way"
        )

    def test_a_field_an_incident_report_lacks_is_refused_with_its_fields(
        self, desk: Desk, database: Database
    ) -> None:
        reference = desk.file(INCIDENT_REPORT)
        response = desk.send(update(reference, colour="red"))
        assert response.status_code == 422
        [problem] = response.json()["detail"]
        assert problem["field"] == "incident_report_update.update.changes"
        assert problem["problem"] == (
            "an incident report has no colour: change its summary, location, occurred_at or "
            "category"
        )
        assert row_counts(database, FiledReportVersion) == {"FiledReportVersion": 1}

    @pytest.mark.parametrize(
        ("changes", "problem"),
        [
            ({}, "say what changes"),
            ({"category": "arson"}, "Input should be"),
            ({"occurred_at": "2026-11-20T23:30:00"}, "timezone"),
        ],
    )
    def test_bad_changes_are_refused_and_nothing_is_written(
        self, desk: Desk, database: Database, changes: dict[str, Any], problem: str
    ) -> None:
        reference = desk.file(INCIDENT_REPORT)
        response = desk.send(update(reference, **changes))
        assert response.status_code == 422, response.text
        assert problem in response.json()["detail"][0]["problem"]
        assert desk.read(reference)["version"] == 1

    def test_a_reason_is_required(self, desk: Desk) -> None:
        reference = desk.file(INCIDENT_REPORT)
        response = desk.send(update(reference, reason="", summary="x"))
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"].endswith("update.reason")

    def test_changes_that_change_nothing_are_refused(self, desk: Desk) -> None:
        reference = desk.file(INCIDENT_REPORT)
        response = desk.send(update(reference, category="crime"))
        assert response.status_code == 409
        assert error_of(response) == "nothing_changes"
        assert "send only what changes" in response.json()["detail"]

    def test_a_report_whose_filing_failed_was_never_filed(
        self, app: FastAPI, desk: Desk, database: Database
    ) -> None:
        """The records system takes the report, then fails to answer: the attempt is recorded,
        but nothing of the report is kept, so an update of the reference it would have had is
        refused as unknown."""
        fails = FilesThenFails()
        context_of(app).records = fails
        assert desk.send(INCIDENT_REPORT).status_code == 503
        [filing] = audit_events(database, "transaction.incident_report")
        assert filing.detail["outcome"] == "records_unavailable"
        assert row_counts(database, *TABLES) == dict.fromkeys(
            ["FiledReport", "FiledReportVersion", "ReportAnnotation"], 0
        )
        context_of(app).records = DemoConnector()
        response = desk.send(update(fails.filed[0], summary="Anything"))
        assert response.status_code == 404
        assert error_of(response) == "report_not_found"

    def test_an_update_is_sampled_for_justification_like_any_transaction(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        sampled = {
            **REPORTS_POLICY,
            "appropriate_use": {
                **REPORTS_POLICY["appropriate_use"],
                "justification_sample_rate": 1,
            },
        }
        desk = Desk(make_scene(app, client, admin_headers, enrolled, clock, sampled))
        reference = desk.file(INCIDENT_REPORT)
        response = desk.send(update(reference, summary="A fuller account"))
        assert response.json()["justification"]["question"]

    def test_the_policy_must_list_the_type(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        desk = Desk(make_scene(app, client, admin_headers, enrolled, clock, POLICY))
        reference = desk.file(INCIDENT_REPORT)
        for body in (update(reference, summary="x"), lookup(reference)):
            response = desk.send(body)
            assert response.status_code == 403
            assert error_of(response) == "transaction_not_allowed"


class FilesThenFails(DemoConnector):
    """A records system that files the report, then times out before answering."""

    def __init__(self) -> None:
        self.filed: list[str] = []

    def submit(self, kind: str, report: dict[str, Any], *, call: RecordsCall) -> str:
        self.filed.append(super().submit(kind, report, call=call))
        raise RecordsUnavailableError("timed out")


class HoldsFirstUpdate(DemoConnector):
    """Holds the first update open (its report locked) until the test lets it go."""

    def __init__(self) -> None:
        self.holding = threading.Event()
        self.release = threading.Event()

    def update_report(
        self,
        reference: str,
        fields: dict[str, Any],
        *,
        changed: list[str],
        reason: str,
        call: RecordsCall,
    ) -> None:
        if not self.holding.is_set():
            self.holding.set()
            assert self.release.wait(WAIT_S)
        super().update_report(reference, fields, changed=changed, reason=reason, call=call)


def lock_waiters(database: Database) -> int:
    with database.engine.connect() as connection:
        found = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar()
    return int(found or 0)


class TestUpdatesAtOnce:
    def test_two_updates_at_once_make_two_versions_in_turn(
        self, committed_database: Database
    ) -> None:
        if committed_database.dialect != "postgresql":
            pytest.skip("SQLite lets one writer in at a time; the race is PostgreSQL's")
        connector = HoldsFirstUpdate()
        now = datetime.now(UTC)

        def call(session: Session) -> RecordsCall:
            return RecordsCall(session, str(uuid.uuid4()), "4021", now)

        with committed_database.unit_of_work() as session:
            filed = INCIDENT_REPORT["report"]
            reference = connector.submit("incident_report", filed, call=call(session))  # type: ignore[arg-type]
        errors: list[BaseException] = []

        def change(summary: str) -> None:
            try:
                with committed_database.unit_of_work() as session:
                    body = update(reference, summary=summary)
                    request = IncidentReportUpdate.model_validate(body)
                    reports.update(connector, request, call(session))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        first = threading.Thread(target=change, args=("First account",))
        first.start()
        assert connector.holding.wait(WAIT_S)
        second = threading.Thread(target=change, args=("Second account",))
        second.start()
        wait_for(lambda: lock_waiters(committed_database), "the second update to wait its turn")
        connector.release.set()
        first.join()
        second.join()
        assert errors == []
        with committed_database.unit_of_work(write=False) as session:
            report = connector.read_report(reference, call=call(session))
        assert report is not None
        assert [(v.version, v.fields["summary"]) for v in report.history] == [
            (1, filed["summary"]),  # type: ignore[index]
            (2, "First account"),
            (3, "Second account"),
        ]
