"""Releases: a catalogue version goes out stage by stage as signed install commands; each
device's signed receipt says what became of it; a stage failing beyond its threshold halts
the release; halts, resumes, widening and rollback by hand; only IT administrators run them
and auditors read them. Devices here speak the protocol as docs/device-protocol.md says."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.scheduler.jobs import job_named
from mdm_server.scheduler.runner import run_job
from tests.conftest import FakeClock
from tests.factories.commands import delivered, open_envelope, sign_receipt, submit_receipt
from tests.factories.devices import SimulatedDevice
from tests.factories.enrolment import create_token
from tests.factories.staff import headers_for
from virtual_device.apk import build_apk

PACKAGE = "uk.police.pnc"


def upload(client: TestClient, headers: dict[str, str], data: bytes) -> dict[str, Any]:
    response = client.post(
        "/api/v1/apps",
        content=data,
        headers={**headers, "content-type": "application/vnd.android.package-archive"},
    )
    assert response.status_code in (200, 201), response.text
    return dict(response.json()["version"])


def fleet(client: TestClient, headers: dict[str, str], count: int, group: str) -> list[Any]:
    token = create_token(client, headers, group=group, uses=count)["token"]
    devices = []
    for _ in range(count):
        device = SimulatedDevice()
        assert device.enrol(client, token).status_code == 201
        devices.append(device)
    return devices


def start(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/api/v1/releases", json={"package": PACKAGE, **body}, headers=headers)


def answer(
    client: TestClient,
    device: Any,
    clock: FakeClock,
    *,
    fail: str | None = None,
) -> list[dict[str, Any]]:
    """The device polls and answers each install it is sent: installed, or refused with
    Android's reason. The installs' parameters, as the device saw them."""
    seen = []
    for envelope in delivered(client, device, clock):
        claims = open_envelope(client, envelope, device_id=device.device_id, now=clock())
        params = claims["params"]
        seen.append(params)
        now: datetime = clock()
        if fail is None:
            evidence = {
                "package": params["package"],
                "profile": params["profile"],
                "version_code": params["version_code"],
                "sha256": params["sha256"],
            }
            receipt = sign_receipt(
                device, envelope, command_id=claims["command_id"], now=now, evidence=evidence
            )
        else:
            receipt = sign_receipt(
                device,
                envelope,
                command_id=claims["command_id"],
                now=now,
                result="failed",
                evidence={"reason": fail},
                error=f"Failure [{fail}]",
            )
        response = submit_receipt(client, device, claims["command_id"], receipt, now=now)
        assert response.status_code == 200, response.text
    return seen


def shown(client: TestClient, headers: dict[str, str], release_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/releases/{release_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture
def catalogue(client: TestClient, admin_headers: dict[str, str]) -> dict[int, dict[str, Any]]:
    """Versions 1 and 2 of the app, uploaded."""
    return {
        code: upload(client, admin_headers, build_apk(PACKAGE, version_code=code))
        for code in (1, 2)
    }


class TestStages:
    def test_a_pilot_then_half_then_all_each_device_once(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        clock: FakeClock,
        catalogue: dict[int, Any],
    ) -> None:
        devices = fleet(client, admin_headers, 10, "response")
        pilot = [d.serial for d in devices[:2]]
        created = start(
            client,
            admin_headers,
            version_code=2,
            stages=[
                {"name": "pilot", "target": {"devices": pilot}},
                {"name": "half", "target": {"fleet": True}, "percent": 50},
                {"name": "all", "target": {"fleet": True}},
            ],
        )
        assert created.status_code == 201, created.text
        release = created.json()
        assert [s["pending"] for s in release["stages"]] == [2, 0, 0]
        sent = {d.serial: answer(client, d, clock) for d in devices}
        assert {s for s, p in sent.items() if p} == set(pilot)  # only the pilot was sent it
        (params,) = sent[pilot[0]]
        assert (params["version_code"], params["size"]) == (2, catalogue[2]["size"])
        assert params["sha256"] == catalogue[2]["sha256"]
        widened = client.post(f"/api/v1/releases/{release['id']}/widen", headers=admin_headers)
        assert widened.status_code == 200, widened.text
        half = widened.json()["stages"][1]
        assert half["pending"] == 3  # half of 10 is 5, two of which the pilot already has
        for device in devices:
            answer(client, device, clock)
        client.post(f"/api/v1/releases/{release['id']}/widen", headers=admin_headers)
        for device in devices:
            answer(client, device, clock)
        final = shown(client, admin_headers, release["id"])
        assert [s["installed"] for s in final["stages"]] == [2, 3, 5]
        assert final["state"] == "finished"
        assert all(d["version_code"] == 2 for s in final["stages"] for d in s["devices"])
        again = client.post(f"/api/v1/releases/{release['id']}/widen", headers=admin_headers)
        assert again.status_code == 409

    def test_a_failing_install_is_counted_with_androids_reason_and_under_threshold_goes_on(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        clock: FakeClock,
        catalogue: dict[int, Any],
    ) -> None:
        devices = fleet(client, admin_headers, 4, "response")
        release = start(
            client,
            admin_headers,
            version_code=2,
            failure_threshold_pct=30,
            stages=[{"name": "all", "target": {"groups": ["response"]}}],
        ).json()
        answer(client, devices[0], clock, fail="INSTALL_FAILED_INSUFFICIENT_STORAGE")
        for device in devices[1:]:
            answer(client, device, clock)
        final = shown(client, admin_headers, release["id"])
        (stage,) = final["stages"]
        assert (stage["installed"], stage["failed"]) == (3, 1)
        (failed,) = [d for d in stage["devices"] if d["state"] == "failed"]
        assert (failed["serial"], failed["reason"]) == (
            devices[0].serial,
            "INSTALL_FAILED_INSUFFICIENT_STORAGE",
        )
        assert final["state"] == "finished"  # 25% failed, within the 30% threshold

    def test_a_stage_failing_beyond_its_threshold_halts_the_release(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        clock: FakeClock,
        catalogue: dict[int, Any],
    ) -> None:
        devices = fleet(client, admin_headers, 6, "response")
        release = start(
            client,
            admin_headers,
            version_code=2,
            stages=[{"name": "fleet", "target": {"fleet": True}}],
        ).json()
        assert release["failure_threshold_pct"] == 5  # the server's default
        answer(client, devices[0], clock, fail="INSTALL_FAILED_OLDER_SDK")
        halted = shown(client, admin_headers, release["id"])
        assert halted["state"] == "halted"
        assert halted["halted_by"] == "releases"
        assert "1 of 6 installs in stage 'fleet' failed (17%)" in halted["halt_reason"]
        (stage,) = halted["stages"]
        assert (stage["failed"], stage["cancelled"], stage["pending"]) == (1, 5, 0)
        assert all(answer(client, d, clock) == [] for d in devices[1:])  # withdrawn, not sent
        clock.advance(minutes=10)  # someone looks into it, and resumes
        resumed = client.post(f"/api/v1/releases/{release['id']}/resume", headers=admin_headers)
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["stages"][0]["pending"] == 5
        assert all(len(answer(client, d, clock)) == 1 for d in devices[1:])


class TestRollback:
    def test_rollback_sends_the_previous_version_back_allowing_the_downgrade(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        clock: FakeClock,
        catalogue: dict[int, Any],
    ) -> None:
        devices = fleet(client, admin_headers, 3, "response")
        everyone = [{"name": "all", "target": {"fleet": True}}]
        first = start(client, admin_headers, version_code=1, stages=everyone).json()
        for device in devices:
            answer(client, device, clock)
        assert shown(client, admin_headers, first["id"])["state"] == "finished"
        second = start(client, admin_headers, version_code=2, stages=everyone).json()
        assert second["previous_version_code"] == 1
        answer(client, devices[0], clock)
        answer(client, devices[1], clock)
        back = client.post(f"/api/v1/releases/{second['id']}/rollback", headers=admin_headers)
        assert back.status_code == 200, back.text
        assert back.json()["state"] == "rolled_back"
        (params,) = answer(client, devices[0], clock)
        assert (params["version_code"], params["allow_downgrade"]) == (1, True)
        assert params["sha256"] == catalogue[1]["sha256"]
        answer(client, devices[1], clock, fail="INSTALL_FAILED_VERSION_DOWNGRADE")
        assert answer(client, devices[2], clock) == []  # its v2 install was withdrawn
        rows = {
            d["serial"]: d
            for d in shown(client, admin_headers, second["id"])["stages"][0]["devices"]
        }
        assert rows[devices[0].serial]["rollback"] == "succeeded"
        assert rows[devices[1].serial]["rollback_reason"] == "INSTALL_FAILED_VERSION_DOWNGRADE"
        assert rows[devices[2].serial]["state"] == "cancelled"

    def test_a_first_release_has_nothing_to_roll_back_to(
        self, client: TestClient, admin_headers: dict[str, str], catalogue: dict[int, Any]
    ) -> None:
        fleet(client, admin_headers, 1, "response")
        release = start(
            client, admin_headers, version_code=1, stages=[{"name": "a", "target": {"fleet": True}}]
        ).json()
        refused = client.post(f"/api/v1/releases/{release['id']}/rollback", headers=admin_headers)
        assert refused.status_code == 409
        assert refused.json()["error"] == "nothing_to_roll_back_to"


class TestRefusals:
    @pytest.mark.parametrize(
        ("body", "status", "says"),
        [
            (
                {"version_code": 9, "stages": [{"name": "a", "target": {"fleet": True}}]},
                404,
                "no version 9",
            ),
            ({"version_code": 2, "stages": []}, 422, "stages"),
            ({"version_code": 2, "stages": [{"name": "a", "target": {}}]}, 422, "exactly one"),
            (
                {
                    "version_code": 2,
                    "stages": [{"name": "a", "target": {"fleet": True}, "percent": 0}],
                },
                422,
                "percent",
            ),
            (
                {
                    "version_code": 2,
                    "stages": [{"name": "a", "target": {"devices": ["nosuchdevice"]}}],
                },
                404,
                "nosuchdevice",
            ),
        ],
    )
    def test_bad_releases_are_refused_saying_what_to_fix_and_nothing_is_sent(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        clock: FakeClock,
        catalogue: dict[int, Any],
        body: dict[str, Any],
        status: int,
        says: str,
    ) -> None:
        (device,) = fleet(client, admin_headers, 1, "response")
        refused = start(client, admin_headers, **body)
        assert refused.status_code == status, refused.text
        assert says in refused.text
        assert answer(client, device, clock) == []
        assert client.get("/api/v1/releases", headers=admin_headers).json() == []

    def test_one_open_release_per_app(
        self, client: TestClient, admin_headers: dict[str, str], catalogue: dict[int, Any]
    ) -> None:
        fleet(client, admin_headers, 1, "response")
        stages = [{"name": "a", "target": {"fleet": True}, "percent": 100}]
        assert start(client, admin_headers, version_code=1, stages=stages).status_code == 201
        second = start(client, admin_headers, version_code=2, stages=stages)
        assert (second.status_code, second.json()["error"]) == (409, "release_open")


class TestWhoMay:
    @pytest.mark.parametrize("role", ["officer", "supervisor", "missing_persons", "mash"])
    def test_only_it_and_auditors_see_releases_and_only_it_runs_them(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        catalogue: dict[int, Any],
        role: str,
    ) -> None:
        fleet(client, admin_headers, 1, "response")
        stages = [{"name": "a", "target": {"fleet": True}}]
        release = start(client, admin_headers, version_code=1, stages=stages).json()
        auditor = headers_for(app, "auditor")
        assert client.get(f"/api/v1/releases/{release['id']}", headers=auditor).status_code == 200
        halt = f"/api/v1/releases/{release['id']}/halt"
        assert client.post(halt, json={"reason": "x"}, headers=auditor).status_code == 403
        other = headers_for(app, role)
        assert client.get("/api/v1/releases", headers=other).status_code == 403
        assert client.get(f"/api/v1/releases/{release['id']}", headers=other).status_code == 403
        assert client.post(halt, json={"reason": "x"}, headers=other).status_code == 403


class TestScheduledWidening:
    def test_a_release_widens_itself_on_its_schedule_and_not_before(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        clock: FakeClock,
        catalogue: dict[int, Any],
    ) -> None:
        devices = fleet(client, admin_headers, 4, "response")
        release = start(
            client,
            admin_headers,
            version_code=2,
            widen_every_minutes=60,
            stages=[
                {"name": "pilot", "target": {"devices": [devices[0].serial]}},
                {"name": "all", "target": {"fleet": True}},
            ],
        ).json()
        context = app.state.context
        clock.advance(minutes=59)
        assert run_job(context, job_named(context, "widen_releases")) == {"widened": 0}
        clock.advance(minutes=2)
        assert run_job(context, job_named(context, "widen_releases")) == {"widened": 1}
        after = shown(client, headers_for(app, "it_admin"), release["id"])
        assert (after["stage"], after["stages"][1]["pending"]) == (1, 3)
        clock.advance(minutes=61)
        assert run_job(context, job_named(context, "widen_releases")) == {"widened": 0}
