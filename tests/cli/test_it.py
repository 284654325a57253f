"""IT's commands against a running server: commands named by the short ids their list shows,
and plain refusals of ids that cannot be one."""

from __future__ import annotations

from tests.cli.conftest import REPR_MARKS, VALIDATION_DUMP, Live, row_of


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
