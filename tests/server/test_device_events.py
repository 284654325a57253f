"""Device events from the agents' outboxes: kept once each, audited, gaps reported; a copy of
a device in use (two events signed under one number) flagged, audited and resolved."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.db import Database
from mdm_server.devices.models import DeviceEvent
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.server.test_secure import NEW_PIN, make_scene
from tests.support import audit_events, error_of, row_counts

PATH = "/api/v1/device/events"


def event(seq: int, **overrides: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "seq": seq,
        "type": "secure.entered",
        "occurred_at": "2026-11-21T08:00:00Z",
        "detail": {"collar_number": "4021"},
        **overrides,
    }


def upload(
    client: TestClient, device: SimulatedDevice, events: list[dict[str, Any]], now: datetime
) -> Any:
    """Sign each event as the device does, and send the batch."""
    return send(client, device, [device.sign_event(e) for e in events], now)


def send(client: TestClient, device: SimulatedDevice, batch: list[Any], now: datetime) -> Any:
    return client.post(PATH, json={"events": batch}, headers=device.auth("POST", PATH, now=now))


class TestUpload:
    def test_events_are_kept_and_audited_in_sequence(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock, database: Database
    ) -> None:
        batch = [event(2, type="secure.left"), event(1)]
        response = upload(client, enrolled, batch, clock())
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["accepted"] == [batch[1]["event_id"], batch[0]["event_id"]]
        assert (body["contiguous_seq"], body["highest_seq"], body["missing"]) == (2, 2, [])
        actions = [e.action for e in audit_events(database) if e.action.startswith("device_event")]
        assert actions == ["device_event.secure.entered", "device_event.secure.left"]

    def test_a_resent_batch_is_kept_once(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock, database: Database
    ) -> None:
        batch = [event(1), event(2)]
        upload(client, enrolled, batch, clock())
        again = upload(client, enrolled, batch, clock()).json()
        assert again["accepted"] == []
        assert again["duplicates"] == [e["event_id"] for e in batch]
        assert row_counts(database, DeviceEvent) == {"DeviceEvent": 2}

    def test_gaps_are_reported_until_filled(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        body = upload(client, enrolled, [event(1), event(4), event(7)], clock()).json()
        assert (body["contiguous_seq"], body["highest_seq"]) == (1, 7)
        assert body["missing"] == [[2, 3], [5, 6]]
        body = upload(client, enrolled, [event(2), event(3)], clock()).json()
        assert (body["contiguous_seq"], body["missing"]) == (4, [[5, 6]])

    def test_a_sequence_number_reused_by_another_event_is_a_conflict(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        upload(client, enrolled, [event(1)], clock())
        clash = event(1)
        body = upload(client, enrolled, [clash], clock()).json()
        assert body["accepted"] == []
        assert body["conflicts"][0]["event_id"] == clash["event_id"]
        assert body["resequence_from"] == 2

    def test_events_of_two_devices_do_not_mix(
        self,
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
        admin_headers: dict[str, str],
    ) -> None:
        from tests.factories.enrolment import create_token

        other = SimulatedDevice()
        assert other.enrol(client, create_token(client, admin_headers)["token"]).status_code == 201
        upload(client, enrolled, [event(1)], clock())
        body = upload(client, other, [event(1)], clock()).json()
        assert len(body["accepted"]) == 1

    def test_bad_batches_are_refused_whole(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock, database: Database
    ) -> None:
        for events, field in (
            ([event(0)], "events.0.seq"),
            ([event(1, type="Bad Type")], "events.0.type"),
            ([event(1, event_id="not-a-uuid")], "events.0.event_id"),
            ([event(1), {"seq": 2}], "events.1.event_id"),
        ):
            response = upload(client, enrolled, events, clock())
            assert response.status_code == 422, events[:1]
            assert error_of(response) == "invalid_request"
            assert field in [problem["field"] for problem in response.json()["detail"]]
        signed = [enrolled.sign_event(event(n)) for n in range(1, 502)]
        for batch in ([], signed, [event(1)], ["not.a-jws"]):
            response = send(client, enrolled, batch, clock())
            assert response.status_code == 422, str(batch)[:80]
        assert row_counts(database, DeviceEvent) == {"DeviceEvent": 0}


class TestSignatures:
    def test_each_audit_event_keeps_the_devices_signature_over_it(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock, database: Database
    ) -> None:
        sent = event(1)
        upload(client, enrolled, [sent], clock())
        (audited,) = audit_events(database, "device_event.secure.entered")
        claims = jwt.decode(
            audited.detail["signed"], enrolled.key.public_key(), algorithms=["ES256"]
        )
        assert claims == {**sent, "iss": str(enrolled.device_id)}
        assert audited.detail["event_id"] == sent["event_id"]

    @pytest.mark.parametrize(
        ("tamper", "says"),
        [
            ("other_key", "does not verify"),
            ("edited_payload", "does not verify"),
            ("hs256", "must be signed with ES256"),
            ("none", "must be signed with ES256"),
            ("wrong_typ", "typ must be"),
            ("other_iss", "`iss` must be the device id"),
            ("no_iss", "not a signed event"),
        ],
    )
    def test_a_batch_with_one_bad_signature_is_refused_whole(
        self,
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
        database: Database,
        tamper: str,
        says: str,
    ) -> None:
        good = enrolled.sign_event(event(1))
        bad = _tampered(enrolled, event(2), tamper)
        response = send(client, enrolled, [good, bad], clock())
        assert response.status_code == 400, response.text
        assert error_of(response) == "invalid_event_signature"
        assert response.json()["detail"]["index"] == 1
        assert says in response.json()["detail"]["problem"]
        assert row_counts(database, DeviceEvent) == {"DeviceEvent": 0}
        assert audit_events(database, "device_event.secure.entered") == []


def device_answer(client: TestClient, admin: dict[str, str], device: SimulatedDevice) -> Any:
    response = client.get(f"/api/v1/devices/{device.device_id}", headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


class TestClones:
    """Two copies of one device's state: the same key, the same counter, different events."""

    def test_the_later_copy_is_told_where_to_renumber_and_the_device_is_flagged(
        self,
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
        database: Database,
        admin_headers: dict[str, str],
    ) -> None:
        first = [event(1), event(2), event(3)]
        upload(client, enrolled, first, clock())
        assert device_answer(client, admin_headers, enrolled)["cloned_at"] is None
        copy = [event(2, type="transaction"), event(3, type="secure.left"), event(4)]
        body = upload(client, enrolled, copy, clock()).json()
        assert body["accepted"] == [copy[2]["event_id"]]
        assert [c["event_id"] for c in body["conflicts"]] == [e["event_id"] for e in copy[:2]]
        assert body["resequence_from"] == 5  # after every number the server holds
        shown = device_answer(client, admin_headers, enrolled)
        assert shown["cloned_at"] == clock().isoformat().replace("+00:00", "Z")

        (detected,) = audit_events(database, "device.clone_detected")
        assert detected.target_id == str(enrolled.device_id)
        assert detected.detail["first_detection"] is True
        assert detected.detail["conflict_count"] == 2
        assert detected.detail["conflicts"] == [
            {"seq": 2, "event_id": copy[0]["event_id"], "held_by_event_id": first[1]["event_id"]},
            {"seq": 3, "event_id": copy[1]["event_id"], "held_by_event_id": first[2]["event_id"]},
        ]
        # Evidence anyone with the device certificate can check: the key signed this event
        # under number 2, and (in the log) another event under the same number.
        claims = jwt.decode(
            detected.detail["signed"], enrolled.key.public_key(), algorithms=["ES256"]
        )
        assert claims == {**copy[0], "iss": str(enrolled.device_id)}
        held = [
            e
            for e in audit_events(database)
            if e.action.startswith("device_event.") and e.detail["seq"] == 2
        ]
        assert [e.detail["event_id"] for e in held] == [first[1]["event_id"]]

    def test_renumbered_events_are_kept_once_each_with_the_devices_signature(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock, database: Database
    ) -> None:
        upload(client, enrolled, [event(1), event(2)], clock())
        copy = [event(1, type="transaction"), event(2, type="secure.left")]
        start = upload(client, enrolled, copy, clock()).json()["resequence_from"]
        renumbered = [{**e, "seq": start + n} for n, e in enumerate(copy)]
        body = upload(client, enrolled, renumbered, clock()).json()
        assert body["accepted"] == [e["event_id"] for e in renumbered]
        assert (body["contiguous_seq"], body["highest_seq"], body["missing"]) == (4, 4, [])
        # Sent again, under the new number (a lost answer) or the old (a stale copy): once.
        for again in (renumbered, copy):
            body = upload(client, enrolled, again, clock()).json()
            assert (body["accepted"], body["conflicts"]) == ([], [])
            assert body["duplicates"] == [e["event_id"] for e in again]
        assert row_counts(database, DeviceEvent) == {"DeviceEvent": 4}
        (kept,) = audit_events(database, "device_event.transaction")
        claims = jwt.decode(kept.detail["signed"], enrolled.key.public_key(), algorithms=["ES256"])
        assert (claims["event_id"], claims["seq"]) == (copy[0]["event_id"], start)

    def test_each_later_meeting_is_audited_and_the_first_detection_stays(
        self,
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
        database: Database,
        admin_headers: dict[str, str],
    ) -> None:
        upload(client, enrolled, [event(1)], clock())
        upload(client, enrolled, [event(1)], clock())
        flagged = device_answer(client, admin_headers, enrolled)["cloned_at"]
        clock.advance(minutes=5)
        upload(client, enrolled, [event(2)], clock())
        body = upload(client, enrolled, [event(2)], clock()).json()
        assert body["resequence_from"] == 3
        assert device_answer(client, admin_headers, enrolled)["cloned_at"] == flagged
        detections = audit_events(database, "device.clone_detected")
        assert [d.detail["first_detection"] for d in detections] == [True, False]
        assert {d.detail["cloned_at"] for d in detections} == {detections[0].detail["cloned_at"]}

    def test_a_device_with_a_copy_in_use_may_not_open_the_secure_side(
        self,
        app: FastAPI,
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
        database: Database,
        admin_headers: dict[str, str],
    ) -> None:
        scene = make_scene(app, client, admin_headers, enrolled, clock)
        scene.first_entry()
        upload(client, enrolled, [event(1)], clock())
        upload(client, enrolled, [event(1)], clock())
        response = scene.enter(pin=NEW_PIN)
        assert response.status_code == 403, response.text
        assert error_of(response) == "device_cloned"
        assert "re-enrol" in response.json()["detail"]["message"]
        (refused,) = audit_events(database, "secure.entry_refused")
        assert refused.detail["reason"] == "device_cloned"


def _tampered(device: SimulatedDevice, sent: dict[str, Any], how: str) -> str:
    if how == "other_key":
        return device.sign_event(sent, key=ec.generate_private_key(ec.SECP256R1()))
    if how == "edited_payload":
        header, _, signature = device.sign_event(sent).split(".")
        edited = {**sent, "iss": str(device.device_id), "type": "secure.left"}
        payload = base64.urlsafe_b64encode(json.dumps(edited).encode()).rstrip(b"=").decode()
        return f"{header}.{payload}.{signature}"
    if how == "hs256":
        return device.sign_event(
            sent, key="a shared secret of 32 bytes or more!", algorithm="HS256"
        )
    if how == "none":
        return jwt.encode({**sent, "iss": str(device.device_id)}, None, algorithm="none")
    if how == "wrong_typ":
        return device.sign_event(sent, typ="JWT")
    if how == "other_iss":
        return device.sign_event(sent, iss=str(uuid.uuid4()))
    assert how == "no_iss"
    return jwt.encode(
        sent, device.key, algorithm="ES256", headers={"typ": "tabard-device-event+jwt"}
    )
