from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.devices.models import PostureRecord
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.support import count


class TestCheckin:
    def test_answers_with_commands_policy_version_and_interval(
        self, app: FastAPI, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        response = enrolled.checkin(client, now=clock())
        assert response.status_code == 200
        answer = response.json()
        assert answer["commands"] == []
        assert answer["checkin_interval_s"] == app.state.context.settings.checkin_interval_s
        # With no policy applied anywhere, the device still holds a (empty) resolved policy.
        served = enrolled.policy(client, now=clock())
        assert served.status_code == 200
        assert answer["policy_version"] == served.json()["version"]

    def test_stores_the_latest_posture_and_last_seen(
        self,
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
        admin_headers: dict[str, str],
    ) -> None:
        enrolled.checkin(client, now=clock(), posture=enrolled.posture(usb_debugging=True))
        clock.advance(minutes=5)
        enrolled.checkin(client, now=clock(), posture=enrolled.posture(usb_debugging=False))
        shown = client.get(f"/api/v1/devices/{enrolled.device_id}", headers=admin_headers).json()
        assert shown["posture"]["usb_debugging"] is False
        assert shown["posture"]["apps"] == {
            "personal": ["com.whatsapp"],
            "work": ["uk.police.optik"],
        }
        assert shown["last_seen_at"].startswith(clock().strftime("%Y-%m-%dT%H:%M"))

    def test_keeps_a_history_of_changes_not_of_every_checkin(
        self,
        app: FastAPI,
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
        admin_headers: dict[str, str],
    ) -> None:
        for _ in range(3):
            clock.advance(minutes=1)
            posture = enrolled.posture(collected_at=clock().isoformat())
            assert enrolled.checkin(client, now=clock(), posture=posture).status_code == 200
        enrolled.checkin(client, now=clock(), posture=enrolled.posture(encrypted=False))
        history = client.get(
            f"/api/v1/devices/{enrolled.device_id}/postures", headers=admin_headers
        ).json()
        assert [entry["posture"]["encrypted"] for entry in history] == [False, True]

    def test_history_is_bounded_per_device(
        self,
        app: FastAPI,
        settings: object,
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        limit = app.state.context.settings.posture_history_limit
        for level in range(limit + 5):
            clock.advance(seconds=1)
            enrolled.checkin(client, now=clock(), posture=enrolled.posture(outbox_position=level))
        assert count(app.state.context.database, PostureRecord) == limit

    def test_refuses_fields_outside_the_privacy_contract(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        response = enrolled.checkin(
            client, now=clock(), posture=enrolled.posture(contacts=["Mum", "Dad"])
        )
        assert response.status_code == 422
        assert response.json()["detail"] == [
            {"field": "posture.contacts", "problem": "Extra inputs are not permitted"}
        ]

    def test_keeps_the_secure_sides_app_versions_and_refuses_the_personal_sides(
        self,
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
        admin_headers: dict[str, str],
    ) -> None:
        work = {"work": {"uk.police.optik": 42}}
        checked = enrolled.checkin(client, now=clock(), posture=enrolled.posture(app_versions=work))
        assert checked.status_code == 200
        shown = client.get(f"/api/v1/devices/{enrolled.device_id}", headers=admin_headers).json()
        assert shown["posture"]["app_versions"] == work

        personal = {**work, "personal": {"com.whatsapp": 231}}
        clock.advance(minutes=5)
        refused = enrolled.checkin(
            client, now=clock(), posture=enrolled.posture(app_versions=personal)
        )
        assert refused.status_code == 422
        [problem] = refused.json()["detail"]
        assert problem["field"] == "posture.app_versions"
        assert "never the personal side's" in problem["problem"]
        shown = client.get(f"/api/v1/devices/{enrolled.device_id}", headers=admin_headers).json()
        assert shown["posture"]["app_versions"] == work  # nothing of the refused one kept

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"management_mode": "root"}, "posture.management_mode"),
            (
                {"app_versions": {"work": {"uk.police.optik": -1}}},
                "posture.app_versions.work.uk.police.optik",
            ),
            ({"app_versions": {"work": {"1bad": 3}}}, "posture.app_versions.work.1bad.[key]"),
            (
                {"screen_lock": {"secure": True, "type": "pin", "length": -1}},
                "posture.screen_lock.length",
            ),
            ({"policy_unapplied": ["Secure Side; DROP"]}, "posture.policy_unapplied.0"),
            (
                {"policy_unapplied": ["device.encryption_required"] * 101},
                "posture.policy_unapplied",
            ),
        ],
    )
    def test_refuses_malformed_policy_fields(
        self,
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
        change: dict[str, object],
        field: str,
    ) -> None:
        response = enrolled.checkin(client, now=clock(), posture=enrolled.posture(**change))
        assert response.status_code == 422
        assert [problem["field"] for problem in response.json()["detail"]] == [field]

    def test_accepts_a_posture_that_knows_little(
        self, client: TestClient, enrolled: SimulatedDevice, clock: FakeClock
    ) -> None:
        assert enrolled.checkin(client, now=clock(), posture={}).status_code == 200

    def test_keeps_the_devices_software_current_and_silence_changes_nothing(
        self,
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
        admin_headers: dict[str, str],
    ) -> None:
        def shown() -> tuple[str, int, str]:
            device = client.get(f"/api/v1/devices/{enrolled.device_id}", headers=admin_headers)
            body = device.json()
            return body["android_version"], body["sdk"], body["security_patch"]

        assert shown() == ("7.0", 24, "2017-06-01")  # as enrolled
        updated = enrolled.posture(android_version="9", sdk=28, security_patch="2019-08-01")
        assert enrolled.checkin(client, now=clock(), posture=updated).status_code == 200
        assert shown() == ("9", 28, "2019-08-01")
        clock.advance(minutes=5)
        assert enrolled.checkin(client, now=clock(), posture={"encrypted": True}).status_code == 200
        assert shown() == ("9", 28, "2019-08-01")
