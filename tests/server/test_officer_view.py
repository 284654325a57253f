"""An officer's view of their own record (docs/appropriate-use.md, "What an officer sees"):
their own actions, by an allow-list of actions, never professional standards' interest in
them, never a sequence number whose gaps would count it."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.audit.service import Actor, record
from mdm_server.auth.models import StaffUser
from mdm_server.db import Database
from mdm_server.scheduler.jobs import review_appropriate_use
from mdm_server.secure.officer_view import OFFICER_ACTIONS, OWN_USAGE_READ
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.factories.secure import NEW_PIN, officer_with_pin
from tests.factories.staff import bearer, context_of, headers_for
from tests.server.test_appropriate_use import SAM, WATCHFUL
from tests.server.test_audit_search import person, vehicle
from tests.server.test_secure import Scene, make_scene
from tests.support import audit_events

USAGE = "/api/v1/me/usage"
WATCHING = copy.deepcopy(WATCHFUL)
WATCHING["appropriate_use"]["justification_sample_rate"] = 1.0  # every transaction is asked


@pytest.fixture
def scene(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> Scene:
    return make_scene(app, client, admin_headers, enrolled, clock, policy=WATCHING)


def justification_path(request_id: str) -> str:
    return f"/api/v1/device/justifications/{request_id}"


def justify(scene: Scene, token: str, request_id: str, answer: str) -> Any:
    path = justification_path(request_id)
    headers = {**scene.device.auth("POST", path, now=scene.clock()), "X-Tabard-Session": token}
    return scene.client.post(path, json={"answer": answer}, headers=headers)


def officer_works_a_shift(scene: Scene) -> str:
    """First entry (PIN changed, policy acknowledged), a wrong PIN, a search of their own
    record, a vehicle search, one justification answered, the device reported lost. The
    token of the session still open."""
    scene.first_entry()
    assert scene.enter(pin="000000").status_code == 401
    opened = scene.enter(pin=NEW_PIN)
    assert opened.status_code == 201, opened.text
    token = str(opened.json()["session_token"])
    asked = scene.transact(token, person(SAM["surname"], SAM["forename"]))
    assert asked.status_code == 200, asked.text
    assert scene.transact(token, vehicle("AB12 CDE")).status_code == 200
    answered = justify(
        scene, token, asked.json()["justification"]["id"], "Named by the caller in a burglary."
    )
    assert answered.status_code == 200, answered.text
    return token


def professional_standards_flag(app: FastAPI, client: TestClient, scene: Scene) -> str:
    """An auditor loads the officer's own record, the nightly review flags the search, and
    the auditor reads and escalates the flag. The flag's id."""
    auditor = headers_for(app, "auditor")
    directory = {"officers": {scene.officer.collar_number: {"own": [SAM]}}}
    assert client.put("/api/v1/audit/directory", json=directory, headers=auditor).status_code == 200
    review_appropriate_use(context_of(app), scene.clock())
    (flag,) = client.get("/api/v1/audit/flags", headers=auditor).json()["items"]
    assert client.get(f"/api/v1/audit/flags/{flag['id']}", headers=auditor).status_code == 200
    decided = client.post(
        f"/api/v1/audit/flags/{flag['id']}/review",
        json={"decision": "escalated", "note": "Own record searched; refer."},
        headers=auditor,
    )
    assert decided.status_code == 200, decided.text
    searched = client.get(
        "/api/v1/audit/search", params={"officer": scene.officer.collar_number}, headers=auditor
    )
    assert searched.status_code == 200
    return str(flag["id"])


def pages(client: TestClient, headers: dict[str, str], limit: int) -> list[dict[str, Any]]:
    """Every event of the officer's record, following `next_before` to the end."""
    events: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        response = client.get(USAGE, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        events.extend(body["events"])
        if body["next_before"] is None:
            return events
        params["before"] = body["next_before"]


class TestOwnRecord:
    def test_shows_the_officers_own_actions_in_words_and_no_flag(
        self, app: FastAPI, client: TestClient, scene: Scene, database: Database
    ) -> None:
        officer_works_a_shift(scene)
        assert client.post("/api/v1/me/device/lost", headers=bearer(app, scene.officer)).is_success
        flag_id = professional_standards_flag(app, client, scene)
        assert audit_events(database, "appropriate_use.flag_raised")  # the flag is there

        response = client.get(USAGE, headers=bearer(app, scene.officer))

        assert response.status_code == 200, response.text
        shown = [event["action"] for event in response.json()["events"]]
        assert set(shown) == {
            "secure.pin_changed",
            "secure.policy_acknowledged",
            "secure.session_opened",
            "secure.pin_wrong",
            "transaction.person_search",
            "transaction.vehicle_search",
            "appropriate_use.justification_requested",
            "appropriate_use.justification_given",
            "device.reported_lost",
        }
        assert "flag" not in response.text.lower()
        assert "review" not in response.text.lower()
        assert flag_id not in response.text
        searches = [e for e in response.json()["events"] if e["action"].startswith("transaction.")]
        assert {e["what"] for e in searches} == {"person search", "vehicle search"}
        assert {(e["purpose"], e["outcome"]) for e in searches} == {
            ("INVESTIGATION", "answered"),
            ("ROAD_TRAFFIC", "answered"),
        }

    def test_pages_by_event_id_and_never_shows_a_sequence_number(
        self, app: FastAPI, client: TestClient, scene: Scene, database: Database
    ) -> None:
        officer_works_a_shift(scene)
        professional_standards_flag(app, client, scene)
        headers = bearer(app, scene.officer)

        whole = pages(client, headers, limit=50)
        one_by_one = pages(client, headers, limit=1)

        assert one_by_one == whole
        assert len(whole) >= 8
        assert all("seq" not in event for event in whole)
        ids = {str(event.event_id) for event in audit_events(database)}
        assert all(event["id"] in ids for event in whole)
        assert [e["time"] for e in whole] == sorted((e["time"] for e in whole), reverse=True)

    def test_a_cursor_not_of_their_own_record_is_refused_alike(
        self, app: FastAPI, client: TestClient, scene: Scene, database: Database
    ) -> None:
        officer_works_a_shift(scene)
        professional_standards_flag(app, client, scene)
        (raised,) = audit_events(database, "appropriate_use.flag_raised")
        headers = bearer(app, scene.officer)
        answers = []
        for cursor in (str(raised.event_id), str(uuid.uuid4())):
            response = client.get(USAGE, params={"before": cursor}, headers=headers)
            answers.append((response.status_code, response.text.replace(cursor, "ID")))
        assert answers[0] == answers[1]
        assert answers[0][0] == 400
        assert "not an event of your own record" in answers[0][1]

    def test_reading_is_audited_apart_from_auditors_searches_and_not_listed_back(
        self, app: FastAPI, client: TestClient, scene: Scene, database: Database
    ) -> None:
        officer_works_a_shift(scene)
        headers = bearer(app, scene.officer)
        first = client.get(USAGE, headers=headers).json()

        again = client.get(USAGE, headers=headers).json()

        assert again == first
        reads = audit_events(database, OWN_USAGE_READ)
        assert len(reads) == 2
        assert all(read.actor_id == str(scene.officer.id) for read in reads)
        assert reads[0].detail["collar_number"] == scene.officer.collar_number
        assert audit_events(database, "audit.searched") == []
        auditor = headers_for(app, "auditor")
        found = client.get(
            "/api/v1/audit/search",
            params={"officer": scene.officer.collar_number, "action": OWN_USAGE_READ},
            headers=auditor,
        ).json()["events"]
        assert len(found) == 2  # professional standards see who read the officer's record

    def test_an_unlisted_action_or_another_persons_doing_is_never_shown(
        self, app: FastAPI, client: TestClient, scene: Scene
    ) -> None:
        officer_works_a_shift(scene)
        before = client.get(USAGE, headers=bearer(app, scene.officer)).json()
        context = context_of(app)
        someone = Actor(type="staff", id=str(uuid.uuid4()), name="ps-someone", role="auditor")
        with context.database.unit_of_work() as session:
            mine = {"collar_number": scene.officer.collar_number}
            # an action nobody has listed yet, about the officer
            record(session, actor=someone, action="audit.brand_new_read", now=scene.clock(),
                   detail=mine)  # fmt: skip
            # a listed action, but another member of staff's doing
            record(session, actor=someone, action="transaction.person_search",
                   now=scene.clock(), detail=mine)  # fmt: skip

        after = client.get(USAGE, headers=bearer(app, scene.officer)).json()

        assert after == before
        assert "audit.brand_new_read" not in OFFICER_ACTIONS

    def test_another_officer_sees_nothing_of_this_ones_record(
        self, app: FastAPI, client: TestClient, scene: Scene
    ) -> None:
        officer_works_a_shift(scene)
        other: StaffUser = officer_with_pin(app, client, scene.admin)

        response = client.get(USAGE, headers=bearer(app, other))

        assert response.json() == {"events": [], "next_before": None}


class TestOneEntryPerAction:
    """The server records an entry or exit as it happens; the device records the same one in
    its own log and sends it later. The officer is shown one entry per thing they did."""

    def test_an_entry_and_exit_both_recorded_are_listed_once_on_every_page_size(
        self, app: FastAPI, client: TestClient, scene: Scene, database: Database
    ) -> None:
        from tests.factories.secure import leave
        from tests.server.test_device_events import event, upload

        opened = scene.first_entry()
        sid = str(opened["session_id"])
        assert leave(client, scene.device, sid, now=scene.clock()).status_code == 200
        collar = scene.officer.collar_number
        on_device = [
            event(1, detail={"collar_number": collar, "online": True, "session_id": sid}),
            event(
                2,
                type="secure.left",
                detail={"collar_number": collar, "reason": "leave", "session_id": sid},
            ),
            event(3, detail={"collar_number": collar, "online": False}),  # offline: its own
        ]
        assert upload(client, scene.device, on_device, scene.clock()).status_code == 200
        headers = bearer(app, scene.officer)

        whole = pages(client, headers, limit=50)
        one_by_one = pages(client, headers, limit=1)

        assert one_by_one == whole
        actions = [e["action"] for e in whole]
        assert actions.count("secure.session_opened") == 1
        assert actions.count("secure.session_ended") == 1
        assert actions.count("device_event.secure.entered") == 1  # the offline one alone
        assert "device_event.secure.left" not in actions
        (alone,) = [e for e in whole if e["action"] == "device_event.secure.entered"]
        assert alone["what"] == "entered the secure side (as the device recorded it)"
        ids = {e.detail.get("seq"): str(e.event_id) for e in audit_events(database)
               if e.action.startswith("device_event.secure")}  # fmt: skip
        entered = next(e for e in whole if e["action"] == "secure.session_opened")
        left = next(e for e in whole if e["action"] == "secure.session_ended")
        assert (entered["device_record_id"], left["device_record_id"]) == (ids[1], ids[2])
        assert alone["device_record_id"] is None
