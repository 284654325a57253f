"""Device events from the agents' outboxes: kept once each, audited, gaps reported."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient

from mdm_server.db import Database
from mdm_server.devices.models import DeviceEvent
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
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
    return client.post(PATH, json={"events": events}, headers=device.auth("POST", PATH, now=now))


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
        for events in (
            [],
            [event(0)],
            [event(1, type="Bad Type")],
            [event(1, event_id="not-a-uuid")],
            [event(1), {"seq": 2}],
            [event(n) for n in range(1, 502)],
        ):
            response = upload(client, enrolled, events, clock())
            assert response.status_code == 422, events[:1]
            assert error_of(response) == "invalid_request"
        assert row_counts(database, DeviceEvent) == {"DeviceEvent": 0}
