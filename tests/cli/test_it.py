"""IT's commands against a running server: commands named by the short ids their list shows,
plain refusals of ids that cannot be one, and lost devices marked and filtered."""

from __future__ import annotations

from tests.cli.conftest import REPR_MARKS, VALIDATION_DUMP, Live, row_of
from tests.factories.staff import bearer, create_staff


class TestCommandShortIds:
    def test_the_short_id_from_the_list_works_in_show_approve_and_cancel(self, live: Live) -> None:
        live.login("it_admin")
        device = live.enrol()
        sent = live.json("commands", "send", device.serial, "wipe_device", "--reason", "stolen")
        (command,) = sent["commands"]
        short = command["id"][:8]
        assert short in row_of(live.ok("commands", "list").stdout, device.serial)

        assert live.json("commands", "show", short)["id"] == command["id"]
        assert "Command " + short in live.ok("commands", "show", short).stdout
        assert "someone else must approve it" in live.refused("commands", "approve", short)

        live.login("it_admin")  # the second administrator
        assert live.json("commands", "approve", short)["state"] == "queued"
        cancelled = live.ok("commands", "cancel", short.upper(), "--reason", "found it")
        assert f"Command {short} (wipe_device) cancelled." in cancelled.stdout
        assert live.json("commands", "show", command["id"])["state"] == "cancelled"

    def test_an_id_that_cannot_be_one_is_refused_in_plain_words(self, live: Live) -> None:
        live.login("it_admin")
        for reference, says in (
            ("abc", "'abc' is not a command id: give its first 8 characters"),
            ("not-an-id", "'not-an-id' is not a command id"),
            ("..", "'..' is not a command id"),
            ("deadbeef", "no command id starts with 'deadbeef'"),
            ("a/b", "'a/b' is not a name or id Tabard uses"),
        ):
            for verb in ("show", "approve", "cancel"):
                said = live.refused("commands", verb, reference)
                assert says in said, said
                assert not any(mark in said for mark in REPR_MARKS + VALIDATION_DUMP), said


class TestLostDevices:
    def test_a_lost_device_is_marked_in_list_and_show_and_filtered(self, live: Live) -> None:
        live.login("it_admin")
        officer = create_staff(live.app, role="officer")
        lost, kept = live.enrol(), live.enrol()
        live.ok("devices", "assign", lost.serial, "--officer", str(officer.collar_number))
        with live.http() as http:
            reported = http.post(
                "/api/v1/me/device/lost",
                json={"note": "left on a bus"},
                headers=bearer(live.app, officer),
            )
            assert reported.status_code == 200, reported.text

        listed = live.ok("devices", "list").stdout
        assert "LOST" in row_of(listed, lost.serial)
        assert "LOST" not in row_of(listed, kept.serial)
        only_lost = live.json("devices", "list", "--lost")["items"]
        assert [d["serial"] for d in only_lost] == [lost.serial]
        not_lost = live.json("devices", "list", "--not-lost")["items"]
        assert [d["serial"] for d in not_lost] == [kept.serial]
        shown = live.ok("devices", "show", lost.serial).stdout
        assert "LOST: reported" in row_of(shown, "lost")
        assert "no" in row_of(live.ok("devices", "show", kept.serial).stdout, "lost")

    def test_last_seen_filters_take_a_date_without_a_zone(self, live: Live) -> None:
        live.login("it_admin")
        device = live.enrol()
        with live.http() as http:
            assert device.checkin(http, now=live.clock()).status_code == 200  # type: ignore[arg-type]
        assert live.json("devices", "list", "--last-seen-before", "2001-01-01")["items"] == []
        after = live.json("devices", "list", "--last-seen-after", "2001-01-01")["items"]
        assert [d["serial"] for d in after] == [device.serial]
        seen = live.clock().replace(microsecond=0).strftime("%Y-%m-%d %H:%M:%S UTC")
        assert seen in row_of(live.ok("devices", "list").stdout, device.serial)
        refused = live.tabard("devices", "list", "--last-seen-after", "yesterday")
        assert refused.exit_code == 2 and "not an ISO date or time" in refused.output
