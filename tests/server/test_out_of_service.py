"""A retired or wiped device is out of service: it reads as `not_applicable`, not as the
compliance it last had, in every API answer and count, and nothing is evaluated or enforced
against it any more (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.commands import enforcement
from mdm_server.devices.models import Device, DeviceState
from mdm_server.policies import compliance
from tests.conftest import FakeClock
from tests.factories.commands import delivered, retire, send, sign_receipt, submit_receipt
from tests.factories.devices import SimulatedDevice
from tests.factories.staff import headers_for
from tests.server.test_policies import PIN_LOCK, baseline_for_fleet
from tests.support import audit_events


def in_grace(
    client: TestClient, admin: dict[str, str], device: SimulatedDevice, clock: FakeClock
) -> None:
    """The device fails a rule it has a day's grace for: in_grace, with `notify` due."""
    baseline_for_fleet(client, admin)
    posture = device.posture(encrypted=False, screen_lock=PIN_LOCK)
    assert device.checkin(client, now=clock(), posture=posture).status_code == 200
    shown = client.get(f"/api/v1/devices/{device.device_id}", headers=admin).json()
    assert shown["compliance"] == "in_grace"


def wipe(
    app: FastAPI,
    client: TestClient,
    admin: dict[str, str],
    device: SimulatedDevice,
    clock: FakeClock,
) -> None:
    """A full wipe, approved by a second administrator, its receipt in."""
    command = send(client, admin, device.serial, "wipe_device", reason="stolen")
    approved = client.post(
        f"/api/v1/commands/{command['id']}/approve", headers=headers_for(app, "it_admin")
    )
    assert approved.status_code == 200, approved.text
    (envelope,) = delivered(client, device, clock)
    receipt = sign_receipt(
        device, envelope, command_id=command["id"], now=clock(), evidence={"factory_reset": True}
    )
    assert submit_receipt(client, device, command["id"], receipt, now=clock()).status_code == 200


def take_out_of_service(
    how: str,
    app: FastAPI,
    client: TestClient,
    admin: dict[str, str],
    device: SimulatedDevice,
    clock: FakeClock,
) -> None:
    if how == "retired":
        retire(client, app, device.device_id, headers=admin, reason="end of life")
    else:
        wipe(app, client, admin, device, clock)


@pytest.fixture(params=["retired", "wiped"])
def how(
    request: pytest.FixtureRequest,
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> str:
    """The enrolled device, in grace with `notify` due, then retired or wiped (which)."""
    in_grace(client, admin_headers, enrolled, clock)
    take_out_of_service(request.param, app, client, admin_headers, enrolled, clock)
    return str(request.param)


class TestOutOfService:
    def test_it_reads_as_not_applicable_everywhere_it_is_shown(
        self, how: str, app: FastAPI, client: TestClient, enrolled: SimulatedDevice
    ) -> None:
        admin = headers_for(app, "it_admin")
        shown = client.get(f"/api/v1/devices/{enrolled.device_id}", headers=admin).json()
        assert (shown["state"], shown["compliance"]) == (how, "not_applicable")

        def listed(**params: Any) -> list[str]:
            page = client.get("/api/v1/devices", params=params, headers=admin).json()
            return [item["compliance"] for item in page["items"]]

        assert listed() == ["not_applicable"]
        assert listed(compliance="in_grace") == []
        assert listed(compliance="not_evaluated") == []
        assert listed(compliance="not_applicable") == ["not_applicable"]

        fleet = client.get("/api/v1/fleet/summary", headers=admin).json()
        assert fleet["by_compliance"] == []
        summary = client.get("/api/v1/compliance/summary", headers=admin).json()
        assert (summary["by_status"], summary["actions_due"]) == ({}, {})
        explained = client.get(f"/api/v1/devices/{enrolled.device_id}/policy", headers=admin)
        assert (explained.json()["status"], explained.json()["actions"]) == ("not_applicable", [])

    def test_its_enforcement_stands_down_and_the_sweep_leaves_it_alone(
        self, how: str, app: FastAPI, client: TestClient, clock: FakeClock
    ) -> None:
        admin = headers_for(app, "it_admin")
        due = client.get("/api/v1/compliance/actions", headers=admin).json()
        assert due == []
        (stood_down,) = audit_events(app.state.context.database, "enforcement.action_superseded")
        assert stood_down.detail == {"action": "notify", "reason": f"device {how}"}

        clock.advance(hours=25)  # its grace would have ended, and the ladder moved on
        database = app.state.context.database
        report = compliance.sweep(database, now=clock())
        assert (report.devices, report.changed) == (0, 0)
        with database.unit_of_work() as session:
            ladder = enforcement.carry_out_ladder(
                session, wakeups=app.state.context.wakeups, now=clock()
            )
        assert (ladder.carried_out, ladder.notified) == (0, 0)
        due_events = audit_events(database, "enforcement.action_due")
        assert [event.detail["action"] for event in due_events] == ["notify"]  # from before


def test_the_sweep_stands_down_actions_left_open_on_devices_retired_before(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> None:
    """A device retired by a release that left its ladder open: the next sweep closes it."""
    in_grace(client, admin_headers, enrolled, clock)
    database = app.state.context.database
    with database.unit_of_work() as session:  # as retiring used to: the state alone
        device = session.get(Device, uuid.UUID(enrolled.device_id))
        assert device is not None
        device.state = DeviceState.retired
        session.add(device)

    report = compliance.sweep(database, now=clock())

    assert (report.devices, report.stood_down) == (0, 1)
    (stood_down,) = audit_events(database, "enforcement.action_superseded")
    assert stood_down.detail == {"action": "notify", "reason": "device retired"}
    assert compliance.sweep(database, now=clock()).stood_down == 0
