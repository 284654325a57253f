"""Reports kept as drafts on a device and sent when the server is back: each carries the
`draft_id` the device gave it, becomes the transaction's id, and sending it again answers with
the report already filed instead of filing it twice."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from mdm_server.db import Database
from mdm_server.records.filed import RecordsCall, Report
from mdm_server.records.models import FiledReport
from mdm_server.secure.connector import DemoConnector
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.factories.reports import INCIDENT_REPORT, MISSING_PERSON_REPORT, REPORTS_POLICY, Desk
from tests.factories.secure import NEW_PIN, assign, enter, officer_with_pin
from tests.factories.staff import context_of
from tests.server.test_secure import make_scene
from tests.support import audit_events, error_of


@pytest.fixture
def desk(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> Desk:
    return Desk(make_scene(app, client, admin_headers, enrolled, clock, REPORTS_POLICY))


def filed(database: Database) -> list[FiledReport]:
    with database.unit_of_work(write=False) as session:
        return list(session.exec(select(FiledReport)).all())


class TestDrafts:
    def test_a_draft_sent_twice_is_filed_once_under_its_own_id(
        self, desk: Desk, database: Database
    ) -> None:
        draft_id = str(uuid.uuid4())
        body = {**INCIDENT_REPORT, "draft_id": draft_id}
        first = desk.send(body)
        assert first.status_code == 200, first.text
        desk.scene.clock.advance(minutes=3)
        again = desk.send(body)
        assert again.status_code == 200, again.text
        assert again.json()["transaction_id"] == first.json()["transaction_id"] == draft_id
        assert again.json()["result"]["reference"] == first.json()["result"]["reference"]
        assert again.json()["result"]["already_filed"] is True
        assert again.json()["recorded_at"] == first.json()["recorded_at"]
        [report] = filed(database)
        assert str(report.transaction_id) == draft_id
        [event] = audit_events(database, "transaction.incident_report")
        assert event.detail["transaction_id"] == draft_id

    def test_a_draft_id_reused_for_another_kind_of_report_is_refused(self, desk: Desk) -> None:
        draft_id = str(uuid.uuid4())
        desk.ok({**INCIDENT_REPORT, "draft_id": draft_id})
        refused = desk.send({**MISSING_PERSON_REPORT, "draft_id": draft_id})
        assert refused.status_code == 409
        assert error_of(refused) == "draft_id_taken"
        assert "send the draft under a new id" in refused.json()["detail"]

    def test_another_officers_draft_id_gets_no_answer(
        self, app: FastAPI, desk: Desk, database: Database
    ) -> None:
        draft_id = str(uuid.uuid4())
        desk.ok({**INCIDENT_REPORT, "draft_id": draft_id})
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
        refused = desk.send({**INCIDENT_REPORT, "draft_id": draft_id})
        assert refused.status_code == 409
        assert "reference" not in refused.text
        assert len(filed(database)) == 1

    def test_a_draft_id_that_is_not_an_id_is_refused_in_words(self, desk: Desk) -> None:
        refused = desk.send({**INCIDENT_REPORT, "draft_id": "my-draft"})
        assert refused.status_code == 422
        assert "draft_id" in refused.text

    def test_a_search_carries_no_draft_id(self, desk: Desk) -> None:
        search = {
            "type": "person_search",
            "purpose": "INVESTIGATION",
            "query": {"surname": "Example"},
            "draft_id": str(uuid.uuid4()),
        }
        assert desk.send(search).status_code == 422

    def test_the_same_draft_filed_by_two_requests_at_once_is_filed_once(
        self, app: FastAPI, desk: Desk, database: Database
    ) -> None:
        """The second request, which looked before the first had filed, is told to send
        again; sent again, it gets the first's reference."""
        context_of(app).records = NeverSeesFiled()
        draft_id = str(uuid.uuid4())
        first = desk.ok({**INCIDENT_REPORT, "draft_id": draft_id})
        racing = desk.send({**INCIDENT_REPORT, "draft_id": draft_id})
        assert racing.status_code == 409, racing.text
        assert error_of(racing) == "draft_in_flight"
        assert len(filed(database)) == 1
        context_of(app).records = DemoConnector()
        again = desk.ok({**INCIDENT_REPORT, "draft_id": draft_id})
        assert again["reference"] == first["reference"]


class NeverSeesFiled(DemoConnector):
    """Looks for the draft's report before the racing request has filed it."""

    def filed_by(self, transaction_id: str, *, call: RecordsCall) -> Report | None:
        return None
