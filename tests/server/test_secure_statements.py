"""Witness statements signed on the screen (their digest returned and checkable by anyone),
refused any change once signed and annotated instead; filed reports read back, by whom."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.db import Database
from mdm_server.records.models import FiledReport
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.factories.reports import (
    INCIDENT_REPORT,
    REPORTS_POLICY,
    STATEMENT,
    Desk,
    annotation,
    digest_from_the_docs,
    lookup,
    signature,
    update,
    witness_statement,
)
from tests.factories.secure import NEW_PIN, assign, enter, officer_with_pin
from tests.factories.staff import bearer, headers_for
from tests.server.test_secure import make_scene
from tests.support import audit_events, error_of, row_counts


@pytest.fixture
def desk(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> Desk:
    return Desk(make_scene(app, client, admin_headers, enrolled, clock, REPORTS_POLICY))


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
    def test_an_auditor_searching_the_witness_finds_who_read_their_statement(
        self, app: FastAPI, desk: Desk
    ) -> None:
        reference = desk.file(witness_statement())
        desk.read(reference)
        found = desk.scene.client.get(
            "/api/v1/audit/search",
            params={"surname": "doe", "forename": "JO"},
            headers=headers_for(app, "auditor"),
        )
        assert found.status_code == 200, found.text
        assert [e["action"] for e in found.json()["events"]] == [
            "transaction.report_lookup",
            "transaction.witness_statement",
        ]

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
