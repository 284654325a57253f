"""Filed reports worked through the secure side: an incident report updated (each version kept
with who, when and why), a witness statement signed on the screen (its digest returned and
checkable by anyone), refused any change once signed, annotated instead, and read back."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.db import Database
from mdm_server.records.filed import RecordsCall
from mdm_server.records.models import FiledReport, FiledReportVersion, ReportAnnotation
from mdm_server.secure.connector import DemoConnector, RecordsUnavailableError
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.factories.reports import (
    INCIDENT_REPORT,
    MISSING_PERSON_REPORT,
    STATEMENT,
    annotation,
    digest_from_the_docs,
    lookup,
    signature,
    update,
    witness_statement,
)
from tests.factories.secure import NEW_PIN, assign, enter, officer_with_pin
from tests.factories.staff import bearer, context_of, headers_for
from tests.server.test_secure import POLICY, Scene, make_scene
from tests.support import audit_events, error_of, row_counts

TYPES = {
    **POLICY["appropriate_use"]["transaction_types"],  # type: ignore[index]
    "missing_person_report": {"purposes": ["MISSING_PERSON"]},
    "witness_statement": {"purposes": ["INVESTIGATION"], "incident_reference_required": True},
    "incident_report_update": {"purposes": ["INVESTIGATION"]},
    "witness_statement_annotation": {
        "purposes": ["INVESTIGATION"],
        "incident_reference_required": True,
    },
    "report_lookup": {"purposes": ["INVESTIGATION"]},
}
REPORTS_POLICY: dict[str, Any] = {
    **POLICY,
    "appropriate_use": {**POLICY["appropriate_use"], "transaction_types": TYPES},  # type: ignore[dict-item]
}
TABLES = (FiledReport, FiledReportVersion, ReportAnnotation)


class Desk:
    """An officer in the secure side, filing and working reports."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.token = scene.first_entry()["session_token"]

    def send(self, body: dict[str, Any]) -> Any:
        return self.scene.transact(self.token, body)

    def ok(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.send(body)
        assert response.status_code == 200, response.text
        return dict(response.json()["result"])

    def file(self, body: dict[str, Any]) -> str:
        return str(self.ok(body)["reference"])

    def read(self, reference: str) -> dict[str, Any]:
        answer = self.ok(lookup(reference))
        assert answer["found"], reference
        return dict(answer["report"])


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


class TestSignedWitnessStatement:
    def test_filing_returns_a_digest_anyone_can_recompute(self, desk: Desk) -> None:
        answer = desk.ok(witness_statement(signed_at="2026-11-21T10:15:42.123+00:00"))
        assert answer["reference"].startswith("WS-DEMO-")
        assert answer["signed_at"] == "2026-11-21T10:15:42Z"
        assert answer["signature_digest"] == digest_from_the_docs(
            statement=STATEMENT,
            surname="Doe",
            forename="Jo",
            signed_at="2026-11-21T10:15:42Z",
            collar_number=desk.scene.officer.collar_number or "",
            signature=signature(),
        )

    def test_the_statement_reads_back_with_signature_digest_and_annotations(
        self, desk: Desk
    ) -> None:
        filed = desk.ok(witness_statement())
        reference = filed["reference"]
        desk.scene.clock.advance(minutes=5)
        assert desk.ok(annotation(reference)) == {"reference": reference, "annotations": 1}
        desk.ok(annotation(reference, "CCTV from the corner shop requested."))
        report = desk.read(reference)
        assert report["fields"]["statement"] == STATEMENT
        assert report["signature_digest"] == filed["signature_digest"]
        assert report["signed_at"] == "2026-11-21T10:15:42Z"
        drawn = signature()
        assert report["signature"] == {k: drawn[k] for k in ("width", "height", "strokes")}
        notes = report["annotations"]
        assert [n["note"] for n in notes] == [
            "Witness phoned: the time was nearer midnight.",
            "CCTV from the corner shop requested.",
        ]
        assert notes[0]["by"] == desk.scene.officer.collar_number
        assert notes[0]["at"] == desk.scene.clock().isoformat()
        assert report["version"] == 1

    def test_a_signed_statement_cannot_be_changed(self, desk: Desk, database: Database) -> None:
        reference = desk.file(witness_statement())
        response = desk.send(update(reference, summary="A different account"))
        assert response.status_code == 409
        assert error_of(response) == "signed_statement"
        assert response.json()["detail"] == (
            "a signed witness statement cannot be changed; add an annotation"
        )
        assert desk.read(reference)["fields"]["statement"] == STATEMENT
        [event] = audit_events(database, "transaction.incident_report_update")
        assert event.detail["outcome"] == "refused:signed_statement"

    def test_the_audit_event_keeps_the_digest_not_the_strokes(
        self, desk: Desk, database: Database
    ) -> None:
        filed = desk.ok(witness_statement())
        [event] = audit_events(database, "transaction.witness_statement")
        assert event.detail["signature_digest"] == filed["signature_digest"]
        assert "signature" not in event.detail["subject"]
        assert "strokes" not in event.canonical
        reference = filed["reference"]
        desk.ok(annotation(reference, "A note that stays with the statement."))
        [noted] = audit_events(database, "transaction.witness_statement_annotation")
        assert noted.detail["subject"] == {"reference": reference}
        assert "stays with the statement" not in noted.canonical

    def test_a_statement_without_a_signature_is_refused(
        self, desk: Desk, database: Database
    ) -> None:
        body = witness_statement()
        del body["report"]["signature"]
        response = desk.send(body)
        assert response.status_code == 422
        [problem] = response.json()["detail"]
        assert problem["problem"].startswith("a witness statement needs the witness's signature")
        assert row_counts(database, FiledReport) == {"FiledReport": 0}

    @pytest.mark.parametrize(
        ("drawn", "problem"),
        [
            ({"points": 5002}, "a signature may have at most 5000 points; this one has 5002"),
            ({"points": 0}, "the signature is empty"),
            ({"width": 100}, "every point must lie inside the 100 x 160 signing pad"),
            ({"signed_at": "2026-11-21T10:15:42"}, "timezone"),
        ],
    )
    def test_a_bad_signature_is_refused_in_words(
        self, desk: Desk, database: Database, drawn: dict[str, Any], problem: str
    ) -> None:
        response = desk.send(witness_statement(**drawn))
        assert response.status_code == 422, response.text
        assert problem in response.json()["detail"][0]["problem"]
        assert "[[" not in response.text  # no strokes echoed back
        assert row_counts(database, FiledReport) == {"FiledReport": 0}

    def test_a_signature_from_the_future_is_refused(self, desk: Desk, database: Database) -> None:
        ahead = desk.scene.clock().replace(year=2030).isoformat()
        response = desk.send(witness_statement(signed_at=ahead))
        assert response.status_code == 422
        [problem] = response.json()["detail"]
        assert problem["field"] == "report.signature.signed_at"
        assert "check the device's clock" in problem["problem"]
        assert row_counts(database, FiledReport) == {"FiledReport": 0}

    def test_only_a_witness_statement_takes_annotations(self, desk: Desk) -> None:
        reference = desk.file(INCIDENT_REPORT)
        response = desk.send(annotation(reference))
        assert response.status_code == 409
        assert error_of(response) == "wrong_kind_of_report"
        assert response.json()["detail"].startswith(
            f"{reference} is an incident report, not a witness statement"
        )

    def test_annotating_an_unknown_statement_is_not_found(self, desk: Desk) -> None:
        response = desk.send(annotation("WS-DEMO-00000000"))
        assert response.status_code == 404
        assert error_of(response) == "report_not_found"


class TestReadingBack:
    def test_an_auditor_finds_a_report_s_whole_story_by_its_reference(
        self, app: FastAPI, desk: Desk
    ) -> None:
        reference = desk.file(INCIDENT_REPORT)
        desk.ok(update(reference, summary="A fuller account"))
        desk.read(reference)
        found = desk.scene.client.get(
            "/api/v1/audit/search",
            params={"incident": reference},
            headers=headers_for(app, "auditor"),
        )
        assert found.status_code == 200, found.text
        assert [e["action"] for e in found.json()["events"]] == [
            "transaction.report_lookup",
            "transaction.incident_report_update",
            "transaction.incident_report",
        ]

    def test_an_unknown_reference_reads_as_not_found(self, desk: Desk, database: Database) -> None:
        assert desk.ok(lookup("INC-DEMO-00000000")) == {"report": None, "found": False}
        [event] = audit_events(database, "transaction.report_lookup")
        assert event.detail["result_count"] == 0
        assert event.detail["subject"] == {"reference": "INC-DEMO-00000000"}

    def test_each_officer_sees_only_their_own_work_on_a_report_in_their_usage(
        self, app: FastAPI, desk: Desk
    ) -> None:
        scene = desk.scene
        reference = desk.file(witness_statement())
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
        desk.token = opened.json()["session_token"]
        desk.ok(annotation(reference))
        desk.ok(lookup(reference))

        def usage(officer: Any) -> list[tuple[str, str | None]]:
            response = scene.client.get("/api/v1/me/usage", headers=bearer(app, officer))
            assert response.status_code == 200, response.text
            return [
                (e["what"], e["reference"])
                for e in response.json()["events"]
                if e["action"].startswith("transaction.")
            ]

        assert usage(scene.officer) == [("witness statement", reference)]
        assert usage(colleague) == [
            ("filed report read back", reference),
            ("note beside a witness statement", reference),
        ]

    def test_staff_cannot_read_reports_through_the_device_route(
        self, app: FastAPI, desk: Desk
    ) -> None:
        reference = desk.file(INCIDENT_REPORT)
        for role in ("it_admin", "auditor", "supervisor", "officer"):
            response = desk.scene.client.post(
                "/api/v1/device/transactions",
                json=lookup(reference),
                headers=headers_for(app, role),
            )
            assert response.status_code == 401, role
            assert "Shed broken into" not in response.text

    def test_another_device_session_is_refused(self, desk: Desk) -> None:
        response = desk.scene.transact("tss_" + "A" * 43, lookup(desk.file(INCIDENT_REPORT)))
        assert response.status_code == 401
        assert error_of(response) == "invalid_session"
