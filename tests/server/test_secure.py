"""The secure side on the server: officers' PINs, the gate, police transactions, the
crypto-shred of a device's container, and acknowledgements of the appropriate-use policy."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.auth.models import StaffUser
from mdm_server.db import Database
from mdm_server.secure.models import (
    ContainerKey,
    OfficerPin,
    PolicyAcknowledgement,
    SecureSession,
)
from tests.conftest import FakeClock
from tests.factories.commands import retire
from tests.factories.devices import SimulatedDevice
from tests.factories.secure import (
    NEW_PIN,
    PIN,
    assign,
    enter,
    leave,
    officer_with_pin,
    open_envelope,
    transact,
)
from tests.factories.staff import bearer, create_staff
from tests.server.test_policies import apply, put_policy
from tests.support import audit_events, error_of, row_counts

POLICY = {
    "name": "secure-baseline",
    "device": {"warranty_bit_must_be_zero": True},
    "secure_side": {
        "pin_max_failed_attempts": 3,
        "pin_lockout_minutes": 30,
        "inactivity_lock_minutes": 10,
        "max_session_hours": 8,
        "offline_grace_hours": 12,
    },
    "appropriate_use": {
        "policy_text_version": "2026.2",
        "policy_text": "Policing purposes only. Every search is logged and audited.",
        "transaction_types": {
            "person_search": {"purposes": ["INVESTIGATION", "SAFEGUARDING"]},
            "vehicle_search": {"purposes": ["ROAD_TRAFFIC"]},
            "incident_lookup": {"purposes": ["INVESTIGATION"], "incident_reference_required": True},
            "incident_report": {"purposes": ["INVESTIGATION"]},
        },
    },
}
PERSON_SEARCH = {
    "type": "person_search",
    "purpose": "INVESTIGATION",
    "query": {"surname": "Example", "forename": "Sam"},
}
INCIDENT_REPORT = {
    "type": "incident_report",
    "purpose": "INVESTIGATION",
    "report": {
        "summary": "Shed broken into overnight; bicycle taken.",
        "location": "Sample Road, Testbury",
        "occurred_at": "2026-11-20T23:30:00Z",
        "category": "crime",
    },
}


@dataclass
class Scene:
    client: TestClient
    admin: dict[str, str]
    device: SimulatedDevice
    officer: StaffUser
    clock: FakeClock
    app: FastAPI

    def enter(self, **extra: Any) -> Any:
        return enter(
            self.client, self.device, self.officer.collar_number, now=self.clock(), **extra
        )

    def first_entry(self) -> dict[str, Any]:
        """Change the PIN IT set and acknowledge the policy: the officer's first entry."""
        response = self.enter(new_pin=NEW_PIN, acknowledge_policy_text_version="2026.2")
        assert response.status_code == 201, response.text
        return dict(response.json())

    def transact(self, token: str | None, body: dict[str, Any]) -> Any:
        return transact(self.client, self.device, token, body, now=self.clock())


@pytest.fixture
def scene(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> Scene:
    """A device with the policy, checked in, assigned to an officer whose PIN IT has set."""
    return make_scene(app, client, admin_headers, enrolled, clock)


def make_scene(
    app: FastAPI,
    client: TestClient,
    admin: dict[str, str],
    device: SimulatedDevice,
    clock: FakeClock,
    policy: dict[str, Any] = POLICY,
    **officer: Any,
) -> Scene:
    assert put_policy(client, admin, policy).status_code == 201
    assert apply(client, admin, "fleet", policy["name"]).status_code == 200
    assert device.checkin(client, now=clock()).status_code == 200
    person = officer_with_pin(app, client, admin, **officer)
    assign(client, admin, device, person)
    return Scene(client, admin, device, person, clock, app)


class TestSetPin:
    def test_it_sets_a_pin_that_is_never_recorded(self, scene: Scene, database: Database) -> None:
        [event] = audit_events(database, "secure.pin_set")
        assert event.detail == {"collar_number": scene.officer.collar_number}
        assert PIN not in event.canonical

    @pytest.mark.parametrize(
        "pin", ["12345", "1234567890123", "12a456", "111111", "123456", "987654"]
    )
    def test_refuses_weak_pins(self, scene: Scene, pin: str) -> None:
        response = scene.client.put(
            f"/api/v1/officers/{scene.officer.collar_number}/pin",
            json={"pin": pin},
            headers=scene.admin,
        )
        assert response.status_code == 422
        assert error_of(response) == "weak_pin"
        assert pin not in response.text

    def test_unknown_officer_is_not_found(self, scene: Scene) -> None:
        response = scene.client.put(
            "/api/v1/officers/NOSUCH1/pin", json={"pin": "402917"}, headers=scene.admin
        )
        assert response.status_code == 404
        assert error_of(response) == "officer_not_found"

    def test_a_pin_is_for_officers_only(self, app: FastAPI, scene: Scene) -> None:
        supervisor = create_staff(app, role="supervisor", collar="S900")
        response = scene.client.put(
            f"/api/v1/officers/{supervisor.collar_number}/pin",
            json={"pin": "402917"},
            headers=scene.admin,
        )
        assert response.status_code == 404


class TestGate:
    def test_first_entry_requires_a_new_pin(self, scene: Scene) -> None:
        response = scene.enter(acknowledge_policy_text_version="2026.2")
        assert response.status_code == 403
        assert error_of(response) == "pin_change_required"

    def test_first_entry_requires_the_policy_acknowledged(
        self, scene: Scene, database: Database
    ) -> None:
        response = scene.enter(new_pin=NEW_PIN)
        assert response.status_code == 403
        assert error_of(response) == "acknowledgement_required"
        detail = response.json()["detail"]
        assert detail["policy_text_version"] == "2026.2"
        assert detail["text"].startswith("Policing purposes only")
        assert audit_events(database, "secure.policy_acknowledged") == []

    def test_entry_returns_the_container_key_encrypted_to_the_device(
        self, scene: Scene, database: Database
    ) -> None:
        opened = scene.first_entry()
        key = open_envelope(
            opened["container_key"], key=scene.device.key, device_id=str(scene.device.device_id)
        )
        assert len(key) == 32
        assert opened["session_token"].startswith("tss_")
        assert opened["offline"]["allowed"] is True
        assert opened["offline"]["pin_max_failed_attempts"] == 3
        assert opened["inactivity_lock_s"] == 600
        [acknowledged] = audit_events(database, "secure.policy_acknowledged")
        assert acknowledged.detail["policy_text_version"] == "2026.2"
        [event] = audit_events(database, "secure.session_opened")
        assert event.detail["collar_number"] == scene.officer.collar_number
        assert event.detail["container_key_id"] == opened["container_key"]["key_id"]

    def test_the_same_key_comes_back_at_every_entry_but_never_the_same_wrap(
        self, scene: Scene
    ) -> None:
        first = scene.first_entry()
        second = scene.enter(pin=NEW_PIN).json()
        assert first["container_key"]["key_id"] == second["container_key"]["key_id"]
        assert first["container_key"]["epk"] != second["container_key"]["epk"]
        device_id = str(scene.device.device_id)
        assert open_envelope(
            first["container_key"], key=scene.device.key, device_id=device_id
        ) == open_envelope(second["container_key"], key=scene.device.key, device_id=device_id)

    def test_a_wrap_does_not_open_as_another_device(self, scene: Scene) -> None:
        envelope = scene.first_entry()["container_key"]
        with pytest.raises(InvalidTag):
            open_envelope(envelope, key=scene.device.key, device_id=str(uuid.uuid4()))

    def test_the_old_pin_stops_working_once_changed(self, scene: Scene) -> None:
        scene.first_entry()
        response = scene.enter(pin=PIN)
        assert response.status_code == 401
        assert error_of(response) == "invalid_pin"

    def test_wrong_pins_lock_out_after_the_policy_limit(
        self, scene: Scene, database: Database
    ) -> None:
        remaining = [scene.enter(pin="000001").json()["detail"] for _ in range(2)]
        assert [r["attempts_remaining"] for r in remaining] == [2, 1]
        locked = scene.enter(pin="000001")
        assert locked.status_code == 403
        assert error_of(locked) == "pin_locked_out"
        assert (
            locked.json()["detail"]["locked_until"]
            == (
                scene.clock.now.replace(microsecond=0)
                + __import__("datetime").timedelta(minutes=30)
            ).isoformat()
        )
        right_pin_while_locked = scene.enter(
            new_pin=NEW_PIN, acknowledge_policy_text_version="2026.2"
        )
        assert error_of(right_pin_while_locked) == "pin_locked_out"
        assert len(audit_events(database, "secure.pin_wrong")) == 2
        assert len(audit_events(database, "secure.pin_locked_out")) == 1

    def test_a_lockout_ends_with_its_time(self, scene: Scene) -> None:
        for _ in range(3):
            scene.enter(pin="000001")
        scene.clock.advance(minutes=31)
        scene.first_entry()

    def test_it_clears_a_lockout(self, scene: Scene, database: Database) -> None:
        for _ in range(3):
            scene.enter(pin="000001")
        response = scene.client.post(
            f"/api/v1/officers/{scene.officer.collar_number}/pin/clear-lockout",
            headers=scene.admin,
        )
        assert response.status_code == 200, response.text
        assert response.json()["locked_until"] is None
        scene.first_entry()
        [cleared] = audit_events(database, "secure.pin_lockout_cleared")
        assert cleared.detail["was_locked"] is True

    def test_unknown_collar_number_reads_as_a_wrong_pin(self, scene: Scene) -> None:
        response = enter(
            scene.client,
            scene.device,
            "ZZ999",
            now=scene.clock(),
        )
        assert response.status_code == 401
        assert error_of(response) == "invalid_pin"

    def test_refuses_an_officer_the_device_is_not_assigned_to(
        self, app: FastAPI, scene: Scene
    ) -> None:
        other = officer_with_pin(app, scene.client, scene.admin)
        response = enter(scene.client, scene.device, other.collar_number, now=scene.clock())
        assert response.status_code == 403
        assert error_of(response) == "device_not_assigned"

    def test_refuses_a_non_compliant_device_naming_the_finding(
        self, scene: Scene, database: Database
    ) -> None:
        posture = scene.device.posture(warranty_bit=1)
        assert (
            scene.device.checkin(scene.client, now=scene.clock(), posture=posture).status_code
            == 200
        )
        response = scene.enter(new_pin=NEW_PIN, acknowledge_policy_text_version="2026.2")
        assert response.status_code == 403
        assert error_of(response) == "device_non_compliant"
        detail = response.json()["detail"]
        assert [f["rule"] for f in detail["findings"]] == ["device.warranty_bit_must_be_zero"]
        assert "warranty" in detail["message"].lower()
        [refused] = audit_events(database, "secure.entry_refused")
        assert refused.detail["reason"] == "device_non_compliant"

    def test_refuses_a_retired_device(self, scene: Scene) -> None:
        retire(
            scene.client, scene.app, str(scene.device.device_id), headers=scene.admin, reason="lost"
        )
        response = scene.enter(new_pin=NEW_PIN, acknowledge_policy_text_version="2026.2")
        assert response.status_code == 401

    def test_an_approved_full_wipe_under_way_shuts_the_secure_side_and_says_so_in_words(
        self, scene: Scene
    ) -> None:
        body = {"type": "wipe_device", "target": {"device": str(scene.device.device_id)}}
        sent = scene.client.post(
            "/api/v1/commands", json={**body, "reason": "seized"}, headers=scene.admin
        )
        (command,) = sent.json()["commands"]
        second = create_staff(scene.app, role="it_admin")
        approved = scene.client.post(
            f"/api/v1/commands/{command['id']}/approve", headers=bearer(scene.app, second)
        )
        assert approved.status_code == 200, approved.text
        response = scene.enter(new_pin=NEW_PIN, acknowledge_policy_text_version="2026.2")
        assert error_of(response) == "device_leaving_service"
        said = response.json()["detail"]["message"]
        assert said.startswith("a wipe device command (")  # the command in words, not its code

    def test_a_new_policy_text_needs_a_new_acknowledgement(self, scene: Scene) -> None:
        scene.first_entry()
        changed = {
            **POLICY,
            "appropriate_use": {**POLICY["appropriate_use"], "policy_text_version": "2027.1"},
        }  # type: ignore[dict-item]
        assert put_policy(scene.client, scene.admin, changed).status_code == 201
        response = scene.enter(pin=NEW_PIN)
        assert error_of(response) == "acknowledgement_required"
        assert response.json()["detail"]["policy_text_version"] == "2027.1"
        assert scene.enter(pin=NEW_PIN, acknowledge_policy_text_version="2027.1").status_code == 201
        acknowledgements = scene.client.get(
            f"/api/v1/officers/{scene.officer.collar_number}/acknowledgements", headers=scene.admin
        ).json()
        assert [a["text_version"] for a in acknowledgements] == ["2027.1", "2026.2"]

    @pytest.mark.parametrize("stopped_by", ["acknowledgement_required", "device_non_compliant"])
    def test_a_refused_entry_with_a_new_pin_changes_nothing(
        self, scene: Scene, database: Database, stopped_by: str
    ) -> None:
        """Everything the entry would write waits for the last check: a refusal after the PIN
        change was accepted leaves the PIN IT set, unacknowledged text and no session."""
        offered: dict[str, Any] = {"new_pin": NEW_PIN}
        if stopped_by == "device_non_compliant":
            posture = scene.device.posture(warranty_bit=1)
            checked_in = scene.device.checkin(scene.client, now=scene.clock(), posture=posture)
            assert checked_in.status_code == 200
            offered["acknowledge_policy_text_version"] = "2026.2"
        before = _pin_of(database, scene.officer)
        seq_before = len(audit_events(database))

        refused = scene.enter(**offered)

        assert (refused.status_code, error_of(refused)) == (403, stopped_by)
        assert _pin_of(database, scene.officer) == before  # same hash, still to be changed
        assert row_counts(database, PolicyAcknowledgement, SecureSession) == {
            "PolicyAcknowledgement": 0,
            "SecureSession": 0,
        }
        written = [e.action for e in audit_events(database)[seq_before:]]
        assert "secure.pin_changed" not in written
        assert "secure.entry_refused" in written
        assert error_of(scene.enter(pin=NEW_PIN)) == "invalid_pin"  # the new PIN is not set

    def test_a_weak_new_pin_is_refused_before_anything_is_written(
        self, scene: Scene, database: Database
    ) -> None:
        before = _pin_of(database, scene.officer)
        response = scene.enter(new_pin="111111", acknowledge_policy_text_version="2026.2")
        assert (response.status_code, error_of(response)) == (422, "weak_pin")
        assert _pin_of(database, scene.officer) == before
        assert row_counts(database, PolicyAcknowledgement, SecureSession)["SecureSession"] == 0
        assert audit_events(database, "secure.policy_acknowledged") == []

    def test_bad_requests_change_nothing(self, scene: Scene, database: Database) -> None:
        before = row_counts(database, SecureSession, ContainerKey)
        for body in ({}, {"collar_number": "1"}, {"collar_number": "bad collar", "pin": "1"}):
            path = "/api/v1/device/secure-sessions"
            response = scene.client.post(
                path, json=body, headers=scene.device.auth("POST", path, now=scene.clock())
            )
            assert response.status_code == 422
        assert row_counts(database, SecureSession, ContainerKey) == before


def _pin_of(database: Database, officer: StaffUser) -> tuple[str, bool]:
    with database.unit_of_work(write=False) as session:
        stored = session.get(OfficerPin, officer.id)
        assert stored is not None
        return stored.pin_hash, stored.must_change


class TestTransactions:
    def test_transactions_are_recorded_in_order_with_their_justification(
        self, scene: Scene, database: Database
    ) -> None:
        token = scene.first_entry()["session_token"]
        search = scene.transact(token, PERSON_SEARCH)
        assert search.status_code == 200, search.text
        report = scene.transact(token, INCIDENT_REPORT)
        assert report.status_code == 200, report.text
        assert report.json()["result"]["reference"].startswith("INC-DEMO-")
        events = [e for e in audit_events(database) if e.action.startswith("transaction.")]
        assert [e.action for e in events] == [
            "transaction.person_search",
            "transaction.incident_report",
        ]
        first = events[0]
        assert first.actor_id == str(scene.officer.id)
        assert first.detail["purpose"] == "INVESTIGATION"
        assert first.detail["collar_number"] == scene.officer.collar_number
        assert first.detail["device_id"] == str(scene.device.device_id)
        assert first.detail["subject"] == {"surname": "Example", "forename": "Sam"}
        assert first.detail["transaction_id"] == search.json()["transaction_id"]
        assert first.detail["result_count"] == len(search.json()["result"]["people"])

    def test_the_demo_connector_answers_the_same_query_the_same_way(self, scene: Scene) -> None:
        token = scene.first_entry()["session_token"]
        answers = [scene.transact(token, PERSON_SEARCH).json()["result"] for _ in range(2)]
        assert answers[0]["people"]
        assert answers[0] == answers[1]
        assert all(person["synthetic"] for person in answers[0]["people"])

    def test_refuses_a_purpose_the_policy_does_not_allow_and_records_the_attempt(
        self, scene: Scene, database: Database
    ) -> None:
        token = scene.first_entry()["session_token"]
        response = scene.transact(token, {**PERSON_SEARCH, "purpose": "CURIOSITY"})
        assert response.status_code == 403
        assert error_of(response) == "purpose_not_allowed"
        assert response.json()["detail"]["purposes"] == ["INVESTIGATION", "SAFEGUARDING"]
        said = response.json()["detail"]["message"]
        assert said == "CURIOSITY is not a purpose for a person search"  # words, not a code
        [event] = audit_events(database, "transaction.person_search")
        assert event.detail["outcome"] == "refused:purpose_not_allowed"

    def test_requires_an_incident_reference_where_policy_says(self, scene: Scene) -> None:
        token = scene.first_entry()["session_token"]
        lookup = {
            "type": "incident_lookup",
            "purpose": "INVESTIGATION",
            "query": {"reference": "INC-1234"},
        }
        refused = scene.transact(token, lookup)
        assert error_of(refused) == "incident_reference_required"
        assert refused.json()["detail"].startswith("an incident lookup needs an incident reference")
        answered = scene.transact(token, {**lookup, "incident_reference": "INC-1234"})
        assert answered.status_code == 200, answered.text

    def test_refuses_a_type_the_policy_does_not_list(self, scene: Scene) -> None:
        token = scene.first_entry()["session_token"]
        body = {
            "type": "stop_and_search",
            "purpose": "INVESTIGATION",
            "report": {
                "grounds": "Seen passing a package.",
                "object_of_search": "drugs",
                "location": "Sample Road, Testbury",
                "outcome": "no_further_action",
            },
        }
        assert error_of(scene.transact(token, body)) == "transaction_not_allowed"

    @pytest.mark.parametrize(
        "token", [None, "tss_forged", "tss_" + "A" * 43, "eyJhbGciOiJub25lIn0.e30."]
    )
    def test_refuses_missing_and_forged_session_tokens(
        self, scene: Scene, database: Database, token: str | None
    ) -> None:
        scene.first_entry()
        response = scene.transact(token, PERSON_SEARCH)
        assert response.status_code == 401
        assert error_of(response) == "invalid_session"
        assert audit_events(database, "transaction.person_search") == []

    def test_refuses_a_token_after_leaving(self, scene: Scene) -> None:
        opened = scene.first_entry()
        ended = leave(scene.client, scene.device, opened["session_id"], now=scene.clock())
        assert ended.status_code == 200, ended.text
        response = scene.transact(opened["session_token"], PERSON_SEARCH)
        assert error_of(response) == "session_ended"

    def test_refuses_another_devices_token(
        self, scene: Scene, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        from tests.factories.enrolment import create_token

        token = scene.first_entry()["session_token"]
        thief = SimulatedDevice()
        assert thief.enrol(client, create_token(client, admin_headers)["token"]).status_code == 201
        response = transact(client, thief, token, PERSON_SEARCH, now=scene.clock())
        assert error_of(response) == "invalid_session"

    def test_a_replayed_request_is_refused(self, scene: Scene) -> None:
        token = scene.first_entry()["session_token"]
        headers = scene.device.auth("POST", "/api/v1/device/transactions", now=scene.clock())
        headers["X-Tabard-Session"] = token
        first = scene.client.post(
            "/api/v1/device/transactions", json=PERSON_SEARCH, headers=headers
        )
        assert first.status_code == 200
        again = scene.client.post(
            "/api/v1/device/transactions", json=PERSON_SEARCH, headers=headers
        )
        assert again.status_code == 401

    def test_an_idle_session_ends(self, scene: Scene) -> None:
        token = scene.first_entry()["session_token"]
        scene.clock.advance(minutes=9)
        assert scene.transact(token, PERSON_SEARCH).status_code == 200
        scene.clock.advance(minutes=10, seconds=1)
        response = scene.transact(token, PERSON_SEARCH)
        assert error_of(response) == "session_ended"
        assert "inactivity" in response.json()["detail"]

    def test_a_session_ends_at_its_maximum_length(self, scene: Scene) -> None:
        started = scene.clock()
        token = scene.first_entry()["session_token"]
        response = scene.transact(token, PERSON_SEARCH)
        while response.status_code == 200:  # busy all shift, never idle for long
            scene.clock.advance(minutes=9, seconds=59)
            response = scene.transact(token, PERSON_SEARCH)
        assert error_of(response) == "session_ended"
        assert "max_length" in response.json()["detail"]
        assert scene.clock() - started >= timedelta(hours=8)
        assert scene.clock() - started < timedelta(hours=8, minutes=10)

    def test_malformed_transactions_are_422(self, scene: Scene) -> None:
        token = scene.first_entry()["session_token"]
        for body in (
            {"type": "person_search", "purpose": "INVESTIGATION"},
            {**PERSON_SEARCH, "type": "telepathy"},
            {**PERSON_SEARCH, "purpose": "lower case"},
            {**PERSON_SEARCH, "query": {"surname": "x" * 100}},
            {
                "type": "vehicle_search",
                "purpose": "ROAD_TRAFFIC",
                "query": {"registration": "<script>"},
            },
        ):
            response = scene.transact(token, body)
            assert response.status_code == 422, body


class TestCryptoShred:
    def wipe(self, scene: Scene) -> Any:
        return scene.client.post(
            f"/api/v1/devices/{scene.device.device_id}/secure-side/wipe",
            json={"reason": "reported lost on shift"},
            headers=scene.admin,
        )

    def test_wiping_destroys_the_key_and_ends_open_sessions(
        self, scene: Scene, database: Database
    ) -> None:
        opened = scene.first_entry()
        response = self.wipe(scene)
        assert response.status_code == 200, response.text
        destroyed = response.json()["destroyed"]
        assert destroyed["id"] == opened["container_key"]["key_id"]
        with database.unit_of_work(write=False) as session:
            stored = session.get(ContainerKey, uuid.UUID(destroyed["id"]))
            assert stored is not None
            assert stored.wrapped is None
            assert stored.destroyed_reason == "reported lost on shift"
        assert error_of(scene.transact(opened["session_token"], PERSON_SEARCH)) == "session_ended"
        [event] = audit_events(database, "secure.container_key_destroyed")
        assert event.detail["sessions_ended"] == 1

    def test_check_in_tells_the_device_its_key_is_gone(self, scene: Scene) -> None:
        key_id = scene.first_entry()["container_key"]["key_id"]
        before = scene.device.checkin(scene.client, now=scene.clock()).json()
        assert before["container_key_id"] == key_id
        self.wipe(scene)
        after = scene.device.checkin(scene.client, now=scene.clock()).json()
        assert after["container_key_id"] is None

    def test_the_next_entry_gets_a_new_key(self, scene: Scene) -> None:
        first = scene.first_entry()["container_key"]
        self.wipe(scene)
        second = scene.enter(pin=NEW_PIN).json()["container_key"]
        assert second["key_id"] != first["key_id"]
        device_id = str(scene.device.device_id)
        assert open_envelope(first, key=scene.device.key, device_id=device_id) != open_envelope(
            second, key=scene.device.key, device_id=device_id
        )

    def test_retiring_destroys_the_key(self, scene: Scene) -> None:
        scene.first_entry()
        command = retire(
            scene.client,
            scene.app,
            str(scene.device.device_id),
            headers=scene.admin,
            reason="end of life",
        )
        keys = scene.client.get(
            f"/api/v1/devices/{scene.device.device_id}/container-keys", headers=scene.admin
        ).json()
        assert [k["destroyed_reason"] for k in keys] == [f"retire command {command['id']}"]

    def test_wiping_twice_is_harmless(self, scene: Scene) -> None:
        scene.first_entry()
        self.wipe(scene)
        again = self.wipe(scene)
        assert again.status_code == 200
        assert again.json()["destroyed"] is None

    def test_only_it_may_wipe(self, app: FastAPI, scene: Scene) -> None:
        from tests.factories.staff import headers_for

        response = scene.client.post(
            f"/api/v1/devices/{scene.device.device_id}/secure-side/wipe",
            json={"reason": "curious"},
            headers=headers_for(app, "auditor"),
        )
        assert response.status_code == 403
