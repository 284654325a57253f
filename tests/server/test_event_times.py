"""An event a device sends from its outbox keeps both its times: the audit event's own `time`
is when the server received it, `detail.occurred_at` when it happened by the device's clock
(hours apart for work done offline). Both reach the auditor's search and its CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.audit.canonical import timestamp
from mdm_server.audit.search import device_time
from mdm_server.db import Database
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.factories.staff import headers_for
from tests.server.test_device_events import event, upload
from tests.support import audit_events

COLLAR = "4021"
OFFLINE = timedelta(hours=6, minutes=12, seconds=5)


def offline_entry(
    client: TestClient, device: SimulatedDevice, clock: FakeClock, **detail: Any
) -> dict[str, Any]:
    """A secure-side entry made offline, sent when the device is back in coverage."""
    happened = clock() - OFFLINE
    sent = event(
        1,
        occurred_at=happened.isoformat(),
        detail={"collar_number": COLLAR, "online": False, **detail},
    )
    response = upload(client, device, [sent], clock())
    assert response.status_code == 200, response.text
    return sent


class TestBothTimesAreKept:
    def test_the_audit_time_is_the_receipt_and_the_detail_keeps_the_devices_time(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock, database: Database
    ) -> None:
        offline_entry(client, enrolled, clock)
        (audited,) = audit_events(database, "device_event.secure.entered")
        assert audited.occurred_at == clock()  # received now
        assert audited.detail["occurred_at"] == (clock() - OFFLINE).isoformat()

    def test_a_devices_detail_cannot_overwrite_either_time(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock, database: Database
    ) -> None:
        offline_entry(client, enrolled, clock, occurred_at="1999-01-01T00:00:00+00:00", seq=99)
        (audited,) = audit_events(database, "device_event.secure.entered")
        assert audited.detail["occurred_at"] == (clock() - OFFLINE).isoformat()
        assert audited.detail["seq"] == 1


class TestTheAuditorSeesBoth:
    def test_search_results_and_their_csv_carry_both_times(
        self, app: FastAPI, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        offline_entry(client, enrolled, clock)
        auditor = headers_for(app, "auditor")
        found = client.get(
            "/api/v1/audit/search", params={"officer": COLLAR}, headers=auditor
        ).json()
        (shown,) = found["events"]
        assert shown["time"] == timestamp(clock())
        assert device_time(shown) == (clock() - OFFLINE).isoformat()

        exported = client.get(
            "/api/v1/audit/search/export", params={"officer": COLLAR}, headers=auditor
        )
        (row,) = list(csv.DictReader(io.StringIO(exported.text)))
        assert row["time"] == timestamp(clock())
        assert row["device_time"] == (clock() - OFFLINE).isoformat()

    def test_an_event_the_server_recorded_itself_has_one_time(
        self, app: FastAPI, client: TestClient, enrolled: SimulatedDevice
    ) -> None:
        auditor = headers_for(app, "auditor")
        found = client.get(
            "/api/v1/audit/search", params={"action": "device.enrolled"}, headers=auditor
        ).json()
        assert found["events"], "the enrolment is on record"
        assert {device_time(shown) for shown in found["events"]} == {None}


class TestTheOfficerSeesBoth:
    def test_their_usage_says_when_it_happened_on_the_device_and_when_it_arrived(
        self, app: FastAPI, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        offline_entry(client, enrolled, clock)
        officer = headers_for(app, "officer", collar=COLLAR)
        usage = client.get("/api/v1/me/usage", headers=officer).json()
        (shown,) = [e for e in usage["events"] if e["action"] == "device_event.secure.entered"]
        assert datetime.fromisoformat(shown["time"]) == clock()
        assert datetime.fromisoformat(shown["on_device_at"]) == clock() - OFFLINE
