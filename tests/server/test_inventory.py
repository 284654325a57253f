from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.devices.models import Device
from mdm_server.devices.service import find_device
from mdm_server.errors import ConflictError, NotFoundError
from tests.conftest import FakeClock
from tests.factories.commands import retire
from tests.factories.devices import SimulatedDevice
from tests.factories.enrolment import create_token
from tests.factories.staff import create_staff
from tests.support import audit_events, error_of


@pytest.fixture
def fleet(
    app: FastAPI, client: TestClient, admin_headers: dict[str, str], clock: FakeClock
) -> dict[str, SimulatedDevice]:
    """Four devices in two groups, of three models, one assigned to PC 4521."""
    create_staff(app, role="officer", collar="4521", division="north")
    response_token = create_token(client, admin_headers, group="response", officer="4521")
    traffic_token = create_token(client, admin_headers, group="traffic")
    devices = {
        "j5": SimulatedDevice(serial="J5AAAA0001"),
        "j5-2016": SimulatedDevice(
            serial="J5BBBB0002", model="SM-J510FN", android_version="7.1.1", sdk=25
        ),
        "tab": SimulatedDevice(
            serial="TABC000003", model="SM-T580", imei=None, android_version="8.1.0", sdk=27
        ),
        "j5-9": SimulatedDevice(serial="J5DDDD0004", android_version="9", sdk=28),
    }
    for name, device in devices.items():
        clock.advance(minutes=1)
        token = response_token if name == "j5" else traffic_token
        assert device.enrol(client, token["token"]).status_code == 201
    devices["j5"].checkin(client, now=clock())
    return devices


def _serials(client: TestClient, headers: dict[str, str], **params: object) -> list[str]:
    response = client.get("/api/v1/devices", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [device["serial"] for device in response.json()["items"]]


class TestListDevices:
    def test_lists_newest_enrolment_first(
        self, client: TestClient, admin_headers: dict[str, str], fleet: dict[str, SimulatedDevice]
    ) -> None:
        assert _serials(client, admin_headers) == [
            "J5DDDD0004",
            "TABC000003",
            "J5BBBB0002",
            "J5AAAA0001",
        ]

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"group": "response"}, ["J5AAAA0001"]),
            ({"officer": "4521"}, ["J5AAAA0001"]),
            ({"officer": "0000"}, []),
            ({"model": "SM-T580"}, ["TABC000003"]),
            ({"android_version": "9"}, ["J5DDDD0004"]),
            ({"state": "active", "group": "traffic", "model": "SM-J530F"}, ["J5DDDD0004"]),
        ],
    )
    def test_filters(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        fleet: dict[str, SimulatedDevice],
        params: dict[str, str],
        expected: list[str],
    ) -> None:
        assert _serials(client, admin_headers, **params) == expected

    def test_filters_by_last_seen(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        fleet: dict[str, SimulatedDevice],
        clock: FakeClock,
    ) -> None:
        cutoff = (clock() - timedelta(seconds=1)).isoformat()
        assert _serials(client, admin_headers, last_seen_after=cutoff) == ["J5AAAA0001"]
        assert _serials(client, admin_headers, last_seen_before=cutoff) == []

    def test_paginates_with_a_total(
        self, client: TestClient, admin_headers: dict[str, str], fleet: dict[str, SimulatedDevice]
    ) -> None:
        page = client.get(
            "/api/v1/devices", params={"limit": 3, "offset": 3}, headers=admin_headers
        ).json()
        assert (page["total"], [d["serial"] for d in page["items"]]) == (4, ["J5AAAA0001"])

    @pytest.mark.parametrize(
        "params",
        [
            {"limit": 0},
            {"limit": 501},
            {"offset": -1},
            {"state": "lost"},
            {"last_seen_after": "yesterday"},
        ],
    )
    def test_refuses_bad_filters(
        self, client: TestClient, admin_headers: dict[str, str], params: dict[str, object]
    ) -> None:
        response = client.get("/api/v1/devices", params=params, headers=admin_headers)
        assert response.status_code in (400, 422)
        assert set(response.json()) == {"error", "detail"}


class TestShowDevice:
    def test_finds_a_device_by_id_or_serial(
        self, client: TestClient, admin_headers: dict[str, str], fleet: dict[str, SimulatedDevice]
    ) -> None:
        by_id = client.get(f"/api/v1/devices/{fleet['tab'].device_id}", headers=admin_headers)
        by_serial = client.get("/api/v1/devices/TABC000003", headers=admin_headers)
        assert by_id.json() == by_serial.json()
        assert by_id.json()["imei"] is None

    def test_finds_a_device_by_the_start_of_its_id(
        self, client: TestClient, admin_headers: dict[str, str], fleet: dict[str, SimulatedDevice]
    ) -> None:
        device_id = str(fleet["j5-9"].device_id)
        shown = client.get(f"/api/v1/devices/{device_id[:8]}", headers=admin_headers)
        assert shown.json()["id"] == device_id
        retired = client.post(
            f"/api/v1/devices/{device_id[:6]}/retire",
            headers=admin_headers,
            json={"reason": "prefix test"},
        )
        assert retired.json()["commands"][0]["device_id"] == device_id

    def test_an_ambiguous_id_start_is_refused(self, app: FastAPI) -> None:
        context = app.state.context
        with context.database.unit_of_work() as session:
            for tail in ("1" * 24, "2" * 24):
                session.add(
                    Device(
                        id=uuid.UUID(f"abcd1234-0000-4000-8000-{tail[:12]}"),
                        serial=f"S{tail[:8]}",
                        manufacturer="samsung",
                        model="SM-J530F",
                        android_version="7.0",
                        sdk=24,
                        group_name="g",
                        enrolled_at=context.clock(),
                    )
                )
        with context.database.unit_of_work(write=False) as session:
            with pytest.raises(ConflictError, match="several device ids"):
                find_device(session, "abcd")
            with pytest.raises(ConflictError):
                find_device(session, "ABCD1234")
            with pytest.raises(NotFoundError):
                find_device(session, "abcd9")

    def test_an_unknown_device_is_a_404(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        response = client.get("/api/v1/devices/NOSUCHSERIAL", headers=admin_headers)
        assert (response.status_code, error_of(response)) == (404, "device_not_found")


class TestAssignAndRetire:
    def test_assigns_an_officer_and_a_group_with_an_audit_event(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        fleet: dict[str, SimulatedDevice],
    ) -> None:
        response = client.patch(
            "/api/v1/devices/TABC000003/assignment",
            headers=admin_headers,
            json={"officer": "4521", "group": "response"},
        )
        assert response.status_code == 200
        assert (response.json()["officer"]["collar_number"], response.json()["group"]) == (
            "4521",
            "response",
        )
        (event,) = audit_events(app.state.context.database, "device.assigned")
        assert event.detail["after"]["group"] == "response"
        assert event.actor_role == "it_admin"

    def test_null_officer_unassigns_and_omitted_fields_stay(
        self, client: TestClient, admin_headers: dict[str, str], fleet: dict[str, SimulatedDevice]
    ) -> None:
        response = client.patch(
            "/api/v1/devices/J5AAAA0001/assignment", headers=admin_headers, json={"officer": None}
        )
        assert (response.json()["officer"], response.json()["group"]) == (None, "response")

    def test_refuses_an_unknown_officer(
        self, client: TestClient, admin_headers: dict[str, str], fleet: dict[str, SimulatedDevice]
    ) -> None:
        response = client.patch(
            "/api/v1/devices/J5AAAA0001/assignment", headers=admin_headers, json={"officer": "9999"}
        )
        assert (response.status_code, error_of(response)) == (400, "officer_not_found")

    def test_retiring_revokes_the_certificate_and_is_audited(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        fleet: dict[str, SimulatedDevice],
    ) -> None:
        command = retire(client, app, "J5BBBB0002", headers=admin_headers, reason="screen smashed")
        assert command["state"] == "succeeded"
        assert command["evidence"] == {"carried_out_by": "server", "device_state": "retired"}
        shown = client.get("/api/v1/devices/J5BBBB0002", headers=admin_headers).json()
        assert [cert["revocation_reason"] for cert in shown["certificates"]] == ["retired"]
        (event,) = audit_events(app.state.context.database, "device.retired")
        assert event.detail == {
            "serial": "J5BBBB0002",
            "reason": "screen smashed",
            "certificates_revoked": 1,
        }
        again = client.patch(
            "/api/v1/devices/J5BBBB0002/assignment",
            headers=admin_headers,
            json={"group": "traffic"},
        )
        assert again.status_code == 409
