"""An officer's own devices and their lost report, through the CLI against a running server."""

from __future__ import annotations

from tests.cli.conftest import Live, row_of
from tests.factories.staff import context_of, create_staff
from tests.support import audit_events


class TestReportLost:
    def test_an_officer_reports_their_device_lost(self, live: Live) -> None:
        live.login("it_admin")
        officer = create_staff(live.app, role="officer")
        device = live.enrol()
        live.ok("devices", "assign", device.serial, "--officer", str(officer.collar_number))

        live.login_as(officer)
        mine = live.ok("me", "devices").stdout
        assert device.serial in mine and device.device_id is not None
        assert device.device_id[:8] in row_of(mine, device.serial)
        declined = live.tabard("me", "report-lost", input="n\n")
        assert declined.exit_code == 1
        database = context_of(live.app).database
        assert audit_events(database, "device.reported_lost") == []

        said = live.ok(
            "me", "report-lost", "--device", device.device_id[:8], "--note", "bus 38", "--yes"
        ).stdout
        assert f"Device {device.serial} ({device.device_id[:8]}) is reported lost." in said
        assert "held no secure-side key for it" in said  # its secure side was never opened
        assert "lock_device is queued" in said and "wipe_secure_side is queued" in said
        (event,) = audit_events(database, "device.reported_lost")
        assert event.detail["note"] == "bus 38"
        assert "LOST since" in row_of(live.ok("me", "devices").stdout, device.serial)

        again = live.json("me", "report-lost", "--yes")
        assert again["device_id"] == device.device_id

    def test_a_device_that_is_not_theirs_is_refused(self, live: Live) -> None:
        live.login("it_admin")
        someone_elses = live.enrol()
        live.login("officer")
        assert "no active device is assigned to you" in live.refused("me", "report-lost", "--yes")
        said = live.refused("me", "report-lost", "--device", someone_elses.serial, "--yes")
        assert f"no active device '{someone_elses.serial}' is assigned to you" in said
        assert "No device is assigned to you." in live.ok("me", "devices").stdout
