"""The check-in answer tells the device its standing, so the officer's screen can say it:
compliant, or in grace and until when, or non-compliant and why."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient

from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.server.test_policies import PIN_LOCK, baseline_for_fleet


class TestStanding:
    def test_compliant_then_in_grace_until_its_deadline(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        baseline_for_fleet(client, admin_headers)
        good = enrolled.posture(screen_lock=PIN_LOCK)
        standing = enrolled.checkin(client, now=clock(), posture=good).json()["standing"]
        assert standing == {"status": "compliant", "grace_until": None, "problems": []}

        clock.advance(minutes=5)
        answer = enrolled.checkin(client, now=clock(), posture={**good, "usb_debugging": True})
        standing = answer.json()["standing"]
        assert standing["status"] == "in_grace"
        assert datetime.fromisoformat(standing["grace_until"]) > clock()
        assert len(standing["problems"]) == 1
        assert "debugging" in standing["problems"][0].lower()
