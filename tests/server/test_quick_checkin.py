"""The one-statement answers (mdm_server/devices/quick.py): on PostgreSQL a device repeating
its posture is answered by one statement on the event loop's own connection. It must answer
exactly as the ordinary check-in would, and anything that changes the answer (a new posture,
a command, a new policy, a device no longer active, a replayed or forged assertion) must
reach the ordinary path, which does the work or says what is wrong. On SQLite there is no
quick path, and the same tests hold."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, update
from sqlmodel import col

from mdm_server.db import Database
from mdm_server.devices.models import Device, DeviceCertificate
from mdm_server.main import create_app
from tests.conftest import FakeClock
from tests.factories import commands
from tests.factories.devices import SimulatedDevice
from tests.factories.enrolment import create_token
from tests.factories.staff import headers_for
from tests.server.test_policies import BASELINE, PIN_LOCK, apply, baseline_for_fleet, put_policy
from tests.support import error_of


class StatementCounter:
    """Statements run through the ordinary (SQLAlchemy) engine."""

    def __init__(self, database: Database) -> None:
        self.count = 0
        event.listen(database.engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1


@pytest.fixture
def quick_app(committed_database: Database, settings: Any, clock: FakeClock) -> FastAPI:
    return create_app(settings, database=committed_database, clock=clock)


@pytest.fixture
def quick_client(quick_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(quick_app) as client:  # the lifespan opens the event loop's connections
        yield client


@pytest.fixture
def staff(quick_app: FastAPI) -> dict[str, str]:
    return headers_for(quick_app, "it_admin")


@pytest.fixture
def device(quick_client: TestClient, staff: dict[str, str], clock: FakeClock) -> SimulatedDevice:
    """A device under the baseline, compliant, that has checked in once (so the server knows
    its certificate and its posture)."""
    baseline_for_fleet(quick_client, staff)
    device = SimulatedDevice()
    assert device.enrol(quick_client, create_token(quick_client, staff)["token"]).status_code == 201
    first = device.checkin(quick_client, now=clock(), posture=device.posture(screen_lock=PIN_LOCK))
    assert first.status_code == 200, first.text
    assert first.json()["standing"]["status"] == "compliant"
    return device


def repeat(client: TestClient, device: SimulatedDevice, clock: FakeClock, **changes: Any) -> Any:
    clock.advance(minutes=5)
    return device.checkin(
        client, now=clock(), posture=device.posture(screen_lock=PIN_LOCK, **changes)
    )


def is_quick(database: Database) -> bool:
    return database.direct is not None


class TestQuickCheckin:
    def test_a_repeated_posture_is_answered_as_the_ordinary_path_answers(
        self,
        quick_client: TestClient,
        committed_database: Database,
        device: SimulatedDevice,
        staff: dict[str, str],
        clock: FakeClock,
    ) -> None:
        ordinary = repeat(quick_client, device, clock)  # the first repeat fills no cache
        counter = StatementCounter(committed_database)
        quick = repeat(quick_client, device, clock)
        assert quick.status_code == 200, quick.text
        assert quick.json() == ordinary.json()
        assert quick.headers["content-type"] == "application/json"
        # On PostgreSQL the ordinary engine ran nothing: the one statement answered.
        assert (counter.count == 0) is is_quick(committed_database)
        shown = quick_client.get(f"/api/v1/devices/{device.device_id}", headers=staff).json()
        assert shown["last_seen_at"].startswith(clock().strftime("%Y-%m-%dT%H:%M"))

    def test_a_failing_device_hears_its_standing_in_words(
        self,
        quick_client: TestClient,
        committed_database: Database,
        device: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        first = repeat(quick_client, device, clock, usb_debugging=True).json()
        assert first["standing"]["status"] == "in_grace"
        counter = StatementCounter(committed_database)
        again = repeat(quick_client, device, clock, usb_debugging=True).json()
        assert again["standing"] == first["standing"]
        assert (counter.count == 0) is is_quick(committed_database)

    def test_a_replayed_assertion_is_refused(
        self, quick_client: TestClient, device: SimulatedDevice, clock: FakeClock
    ) -> None:
        repeat(quick_client, device, clock)
        path = "/api/v1/device/checkin"
        headers = device.auth("POST", path, now=clock())
        body = {"posture": device.posture(screen_lock=PIN_LOCK)}
        assert quick_client.post(path, json=body, headers=headers).status_code == 200
        replayed = quick_client.post(path, json=body, headers=headers)
        assert replayed.status_code == 401
        assert "replayed" in replayed.json()["detail"]

    def test_an_assertion_signed_by_another_key_is_refused(
        self, quick_client: TestClient, device: SimulatedDevice, clock: FakeClock
    ) -> None:
        repeat(quick_client, device, clock)
        forger = SimulatedDevice()
        clock.advance(minutes=5)
        forged = device.checkin(
            quick_client,
            now=clock(),
            posture=device.posture(screen_lock=PIN_LOCK),
            key=forger.key,
        )
        assert forged.status_code == 401
        assert "signature" in forged.json()["detail"]

    def test_a_queued_command_is_delivered_in_the_answer(
        self,
        quick_client: TestClient,
        device: SimulatedDevice,
        staff: dict[str, str],
        clock: FakeClock,
    ) -> None:
        repeat(quick_client, device, clock)
        sent = commands.send(quick_client, staff, str(device.device_id), "lock_secure_side")
        answer = repeat(quick_client, device, clock).json()
        assert len(answer["commands"]) == 1
        shown = quick_client.get(f"/api/v1/commands/{sent['id']}", headers=staff).json()
        assert shown["state"] == "delivered"

    def test_a_new_posture_is_stored(
        self,
        quick_client: TestClient,
        device: SimulatedDevice,
        staff: dict[str, str],
        clock: FakeClock,
    ) -> None:
        repeat(quick_client, device, clock)
        answer = repeat(quick_client, device, clock, encrypted=False).json()
        assert answer["standing"]["status"] != "compliant"
        shown = quick_client.get(f"/api/v1/devices/{device.device_id}", headers=staff).json()
        assert shown["posture"]["encrypted"] is False

    def test_a_new_policy_is_resolved_and_told(
        self,
        quick_client: TestClient,
        device: SimulatedDevice,
        staff: dict[str, str],
        clock: FakeClock,
    ) -> None:
        before = repeat(quick_client, device, clock).json()["policy_version"]
        relaxed = {**BASELINE, "name": "relaxed"}
        relaxed["device"] = {**BASELINE["device"], "usb_debugging_allowed": True}
        assert put_policy(quick_client, staff, relaxed).status_code == 201
        assert apply(quick_client, staff, "fleet", "relaxed").status_code == 200
        after = repeat(quick_client, device, clock).json()["policy_version"]
        assert after != before

    def test_a_device_no_longer_active_is_refused(
        self,
        quick_client: TestClient,
        committed_database: Database,
        device: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        repeat(quick_client, device, clock)
        with committed_database.unit_of_work() as session:
            session.execute(
                update(Device)
                .where(col(Device.id) == uuid.UUID(device.device_id))
                .values(state="retired")
            )
        refused = repeat(quick_client, device, clock)
        assert (refused.status_code, error_of(refused)) == (401, "device_not_active")

    def test_a_revoked_certificate_is_refused(
        self,
        quick_client: TestClient,
        committed_database: Database,
        device: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        repeat(quick_client, device, clock)
        with committed_database.unit_of_work() as session:
            session.execute(
                update(DeviceCertificate)
                .where(col(DeviceCertificate.device_id) == uuid.UUID(device.device_id))
                .values(revoked_at=clock())
            )
        refused = repeat(quick_client, device, clock)
        assert (refused.status_code, error_of(refused)) == (401, "certificate_revoked")


class TestQuickPoll:
    """An idle poll is authenticated by one statement that records its `jti`; a poll owed a
    command, or refused, goes the ordinary way."""

    def poll(self, client: TestClient, device: SimulatedDevice, clock: FakeClock) -> Any:
        clock.advance(seconds=30)
        return commands.poll(client, device, now=clock())

    def test_an_idle_poll_is_answered_by_one_statement(
        self,
        quick_client: TestClient,
        committed_database: Database,
        device: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        counter = StatementCounter(committed_database)
        idle = self.poll(quick_client, device, clock)
        assert idle.status_code == 200, idle.text
        assert idle.json()["commands"] == []
        assert (counter.count == 0) is is_quick(committed_database)

    def test_a_queued_command_is_delivered(
        self,
        quick_client: TestClient,
        device: SimulatedDevice,
        staff: dict[str, str],
        clock: FakeClock,
    ) -> None:
        assert self.poll(quick_client, device, clock).json()["commands"] == []
        sent = commands.send(quick_client, staff, str(device.device_id), "lock_secure_side")
        answer = self.poll(quick_client, device, clock).json()
        assert len(answer["commands"]) == 1
        shown = quick_client.get(f"/api/v1/commands/{sent['id']}", headers=staff).json()
        assert shown["state"] == "delivered"

    def test_a_replayed_assertion_is_refused(
        self, quick_client: TestClient, device: SimulatedDevice, clock: FakeClock
    ) -> None:
        self.poll(quick_client, device, clock)
        path = "/api/v1/device/commands"
        headers = device.auth("GET", path, now=clock())
        assert quick_client.get(path, headers=headers).status_code == 200
        replayed = quick_client.get(path, headers=headers)
        assert replayed.status_code == 401
        assert "replayed" in replayed.json()["detail"]

    def test_an_assertion_for_another_route_is_refused(
        self, quick_client: TestClient, device: SimulatedDevice, clock: FakeClock
    ) -> None:
        self.poll(quick_client, device, clock)
        headers = device.auth("POST", "/api/v1/device/checkin", now=clock())
        refused = quick_client.get("/api/v1/device/commands", headers=headers)
        assert refused.status_code == 401

    @pytest.mark.parametrize(
        ("model", "change", "code"),
        [
            (Device, {"state": "retired"}, "device_not_active"),
            (DeviceCertificate, {"revoked_at": "now"}, "certificate_revoked"),
        ],
    )
    def test_a_device_no_longer_trusted_is_refused(
        self,
        quick_client: TestClient,
        committed_database: Database,
        device: SimulatedDevice,
        clock: FakeClock,
        model: Any,
        change: dict[str, Any],
        code: str,
    ) -> None:
        self.poll(quick_client, device, clock)
        column = col(model.id) if model is Device else col(model.device_id)
        values = {name: clock() if value == "now" else value for name, value in change.items()}
        with committed_database.unit_of_work() as session:
            session.execute(
                update(model).where(column == uuid.UUID(device.device_id)).values(**values)
            )
        refused = self.poll(quick_client, device, clock)
        assert (refused.status_code, error_of(refused)) == (401, code)
