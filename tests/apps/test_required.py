"""Required apps: a device whose work profile lacks an app its policy requires is sent it by the
`install_required_apps` job, the version the fleet has been given, and not pestered after a
failed install; an app at an old version is a finding from the day its minimum counts."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.scheduler.jobs import job_named
from mdm_server.scheduler.runner import run_job
from tests.apps.test_releases import PACKAGE, answer, fleet, start, upload
from tests.conftest import FakeClock
from tests.factories.commands import delivered
from tests.factories.devices import SimulatedDevice
from tests.factories.staff import headers_for
from tests.server.test_policies import apply, explain, put_policy, statuses
from virtual_device.apk import build_apk

REQUIRING = {
    "name": "pnc-required",
    "secure_side": {
        "allowed_apps": [
            {"package": PACKAGE, "assignment": "required", "min_version_code": 2},
            {"package": "uk.police.optik"},
        ]
    },
}


def require(client: TestClient, headers: dict[str, str]) -> None:
    assert put_policy(client, headers, REQUIRING).status_code == 201
    assert apply(client, headers, "fleet", "pnc-required").status_code == 200


def check_in(client: TestClient, device: SimulatedDevice, clock: FakeClock, **work: int) -> None:
    """A check-in whose work profile holds the optik app and the given apps at these versions."""
    posture = device.posture(
        apps={"personal": [], "work": ["uk.police.optik", *work]},
        app_versions={"work": {"uk.police.optik": 5, **work}},
    )
    assert device.checkin(client, now=clock(), posture=posture).status_code == 200


def installs(client: TestClient, device: SimulatedDevice, clock: FakeClock) -> list[Any]:
    """The version codes of the install commands the device is sent now (and answers)."""
    return [params["version_code"] for params in answer(client, device, clock)]


def sweep(app: FastAPI, clock: FakeClock) -> dict[str, int] | None:
    """The job's next run: five minutes on, as it is scheduled."""
    clock.advance(minutes=5)
    context = app.state.context
    return run_job(context, job_named(context, "install_required_apps"))


class TestRequiredApps:
    def test_a_device_without_a_required_app_is_sent_it_and_one_with_it_is_not(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], clock: FakeClock
    ) -> None:
        for code in (1, 2):
            upload(client, admin_headers, build_apk(PACKAGE, version_code=code))
        require(client, admin_headers)
        has_it, lacks_it = fleet(client, admin_headers, 2, "response")
        check_in(client, has_it, clock, **{PACKAGE: 2})
        check_in(client, lacks_it, clock)
        it = headers_for(app, "it_admin")
        assert statuses(explain(client, it, lacks_it))["secure_side.required_apps"] == (
            "non_compliant"
        )
        assert statuses(explain(client, it, has_it))["secure_side.required_apps"] == "compliant"

        assert sweep(app, clock) == {"sent": 1, "waiting": 0, "unavailable": 0}

        assert installs(client, has_it, clock) == []
        assert installs(client, lacks_it, clock) == [2]  # never released: the newest
        check_in(client, lacks_it, clock, **{PACKAGE: 2})
        assert statuses(explain(client, it, lacks_it))["secure_side.required_apps"] == "compliant"
        assert sweep(app, clock) == {"sent": 0, "waiting": 0, "unavailable": 0}

    def test_the_version_sent_is_the_one_the_fleet_has_been_given(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], clock: FakeClock
    ) -> None:
        for code in (1, 2):
            upload(client, admin_headers, build_apk(PACKAGE, version_code=code))
        require(client, admin_headers)
        old, new = fleet(client, admin_headers, 2, "response")
        release = start(
            client,
            admin_headers,
            version_code=1,
            stages=[{"name": "all", "target": {"devices": [old.serial]}}],
        )
        assert release.status_code == 201, release.text
        assert installs(client, old, clock) == [1]
        shown = client.get(f"/api/v1/releases/{release.json()['id']}", headers=admin_headers)
        assert shown.json()["state"] == "finished"
        check_in(client, new, clock)

        assert sweep(app, clock)["sent"] == 1
        # Version 2 is newer, but only version 1 has been released: that is what is sent.
        assert installs(client, new, clock) == [1]

    def test_a_failed_install_is_not_sent_again_for_a_day(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], clock: FakeClock
    ) -> None:
        upload(client, admin_headers, build_apk(PACKAGE, version_code=2))
        require(client, admin_headers)
        [device] = fleet(client, admin_headers, 1, "response")
        check_in(client, device, clock)
        assert sweep(app, clock)["sent"] == 1
        assert sweep(app, clock) == {"sent": 0, "waiting": 1, "unavailable": 0}  # still on its way
        sent = answer(client, device, clock, fail="INSTALL_FAILED_INSUFFICIENT_STORAGE")
        assert [params["version_code"] for params in sent] == [2]

        clock.advance(hours=23)
        check_in(client, device, clock)
        assert sweep(app, clock) == {"sent": 0, "waiting": 1, "unavailable": 0}
        assert list(delivered(client, device, clock)) == []

        clock.advance(hours=2)
        assert sweep(app, clock)["sent"] == 1
        assert installs(client, device, clock) == [2]

    def test_a_required_app_with_nothing_to_send_is_reported_not_invented(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], clock: FakeClock
    ) -> None:
        require(client, admin_headers)  # nothing of uk.police.pnc uploaded
        [device] = fleet(client, admin_headers, 1, "response")
        check_in(client, device, clock)
        assert sweep(app, clock) == {"sent": 0, "waiting": 0, "unavailable": 1}
        assert installs(client, device, clock) == []

    def test_an_old_version_is_a_finding_and_a_new_one_is_not(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], clock: FakeClock
    ) -> None:
        require(client, admin_headers)
        [device] = fleet(client, admin_headers, 1, "response")
        it = headers_for(app, "it_admin")
        check_in(client, device, clock, **{PACKAGE: 1})
        explanation = explain(client, it, device)
        [finding] = [f for f in explanation["findings"] if f["rule"] == "secure_side.app_versions"]
        assert finding["status"] == "non_compliant"
        assert finding["actual"] == [{"package": PACKAGE, "installed": 1, "min_version_code": 2}]
        clock.advance(minutes=5)
        check_in(client, device, clock, **{PACKAGE: 2})
        assert statuses(explain(client, it, device))["secure_side.app_versions"] == "compliant"
