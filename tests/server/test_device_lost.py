"""A device reports itself lost (the button on its personal side): authenticated as the
device, it is marked lost, its container key destroyed and a lock and a secure-side wipe queued,
audited as the device's own report like an officer's; an unsigned or forged call changes
nothing; IT's "found" clears it as for any lost report."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import FakeClock
from tests.factories.commands import delivered, open_envelope
from tests.factories.staff import create_staff
from tests.support import audit_events, error_of

PATH = "/api/v1/device/lost"


def report(client: TestClient, enrolled: Any, clock: FakeClock, **body: Any) -> Any:
    headers = enrolled.auth("POST", PATH, now=clock())
    return client.post(PATH, json=body or None, headers=headers)


class TestADeviceReportsItselfLost:
    def test_it_is_locked_wiped_and_audited_as_the_devices_report(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: Any,
        clock: FakeClock,
    ) -> None:
        officer = create_staff(app, role="officer")
        client.patch(
            f"/api/v1/devices/{enrolled.device_id}/assignment",
            json={"officer": officer.collar_number},
            headers=admin_headers,
        )
        reported = report(client, enrolled, clock, note="from the personal side")
        assert reported.status_code == 200, reported.text
        assert [c["type"] for c in reported.json()["commands"]] == [
            "lock_device",
            "wipe_secure_side",
        ]
        envelopes = delivered(client, enrolled, clock)
        types = [open_envelope(client, e, device_id=enrolled.device_id)["type"] for e in envelopes]
        assert types == ["lock_device", "wipe_secure_side"]
        device = client.get(f"/api/v1/devices/{enrolled.device_id}", headers=admin_headers).json()
        assert device["lost_at"] is not None
        (event,) = audit_events(app.state.context.database, "device.reported_lost")
        assert event.detail["note"] == "from the personal side"
        assert event.actor_type == "device"
        again = report(client, enrolled, clock)  # a second press: the same commands, no more
        assert again.status_code == 200
        ids = [c["id"] for c in again.json()["commands"]]
        assert ids == [c["id"] for c in reported.json()["commands"]]
        found = client.post(f"/api/v1/devices/{enrolled.device_id}/found", headers=admin_headers)
        assert found.json()["lost_at"] is None

    def test_without_the_devices_signature_nothing_changes(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: Any,
        clock: FakeClock,
    ) -> None:
        unsigned = client.post(PATH)
        assert unsigned.status_code == 401
        as_staff = client.post(PATH, headers=admin_headers)
        assert as_staff.status_code == 401, as_staff.text
        device = client.get(f"/api/v1/devices/{enrolled.device_id}", headers=admin_headers).json()
        assert device["lost_at"] is None
        assert audit_events(app.state.context.database, "device.reported_lost") == []

    def test_a_note_too_long_is_refused_saying_so(
        self, client: TestClient, enrolled: Any, clock: FakeClock
    ) -> None:
        refused = report(client, enrolled, clock, note="x" * 501)
        assert refused.status_code == 422
        assert "note" in refused.text
        assert error_of(refused) is not None
