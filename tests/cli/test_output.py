"""What the CLI prints for people: plain words for any value (never a Python repr), times to
the second with their zone, markup in data shown as it is, and tables that a pipe receives
whole rather than cut to 80 columns."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from device_agent.errors import ServerError
from tabard.cli import app
from tabard.output import describe_detail, fail, fields, plain, table, when
from tests.cli.conftest import REPR_MARKS, Live, cells, row_of


class TestPlainWords:
    @pytest.mark.parametrize(
        ("value", "shown"),
        [
            (["SM-J510FN", "SM-J530F"], "SM-J510FN, SM-J530F"),
            ({"security_patch": "2017-06-01", "sdk": 24}, "security_patch: 2017-06-01; sdk: 24"),
            ({"removed": {"user": 10}, "ok": True}, "removed: (user: 10); ok: yes"),
            (None, ""),
            (False, "no"),
            (3, "3"),
        ],
    )
    def test_values_read_as_words(self, value: object, shown: str) -> None:
        assert plain(value) == shown

    def test_times_are_to_the_second_and_say_their_zone(self) -> None:
        assert when("2026-11-21T09:30:14.6Z") == "2026-11-21 09:30:15 UTC"
        assert when("2026-07-01T10:00:00+01:00") == "2026-07-01 09:00:00 UTC"
        assert when(datetime(2026, 11, 21, 9, 30, 0, 400_000, tzinfo=UTC)) == (
            "2026-11-21 09:30:00 UTC"
        )
        assert when(None) == "" and when("soon") == "soon"

    @pytest.mark.parametrize(
        ("detail", "shown"),
        [
            ({"message": "acknowledge the policy", "policy_text_version": "2026.2"}, None),
            ([{"field": "body.note", "problem": "too short"}], "note: too short"),
            ([{"field": "query.limit", "problem": "too big"}, "and this"], "limit: too big; and"),
            ({"models": ["SM-J510FN", "SM-T580"]}, "models: SM-J510FN, SM-T580"),
        ],
    )
    def test_an_error_detail_reads_as_one_line(self, detail: object, shown: str | None) -> None:
        said = describe_detail(detail)
        assert said.startswith(shown or "acknowledge the policy")
        assert not any(mark in said for mark in REPR_MARKS), said

    def test_the_agents_server_errors_carry_no_repr(self) -> None:
        error = ServerError(403, "acknowledgement_required", {"message": "acknowledge 2026.2"})
        assert str(error) == "server refused (403 acknowledgement_required): acknowledge 2026.2"


class TestTypedValues:
    def test_a_bad_time_or_date_is_quoted_as_typed(self, tmp_path: Path) -> None:
        runner = CliRunner()
        search = runner.invoke(app, ["audit", "search", "--from", "10 o'clock"])
        assert search.exit_code == 2 and "'10 o'clock' is not an ISO date or time" in search.output
        agent = ["agent", "--state", str(tmp_path)]
        person = runner.invoke(
            app,
            [*agent, "search", "person", "--surname", "Doe", "--purpose", "P", "--dob", "o'May"],
        )
        assert person.exit_code == 2 and "'o'May' is not a date" in person.output


class TestTables:
    def test_cells_holding_lists_and_objects_are_words(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        table("Devices", ["id", "models"], [["1a2b3c4d", ["SM-J510FN", "SM-T580"]]])
        fields("Posture", [("patch", {"security_patch": "2017-06-01"}), ("usb", False)])
        printed = capsys.readouterr().out
        assert "SM-J510FN, SM-T580" in printed and "security_patch: 2017-06-01" in printed
        assert cells(row_of(printed, "usb")) == ["usb", "no"]
        assert not any(mark in printed for mark in REPR_MARKS), printed

    def test_markup_in_data_is_shown_as_written(self, capsys: pytest.CaptureFixture[str]) -> None:
        table("Notes", ["note"], [["[bold]loud[/bold] and [/] stray"]])
        assert "[bold]loud[/bold] and [/] stray" in capsys.readouterr().out
        with pytest.raises(typer.Exit):
            fail("the server said [/] oops")
        assert "the server said [/] oops" in capsys.readouterr().err


class TestPipes:
    def test_a_table_sent_to_a_pipe_keeps_each_row_on_one_line(self, live: Live) -> None:
        live.login("it_admin")
        device = live.enrol(serial="R58J530F0001XYZ")
        live.ok("commands", "send", device.serial, "lock_device")
        with live.http() as http:
            assert device.checkin(http, now=live.clock()).status_code == 200  # type: ignore[arg-type]
        env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
        for args in (["devices", "list"], ["commands", "list"]):
            piped = subprocess.run(
                [sys.executable, "-m", "tabard", *args],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
                check=True,
            )
            row = row_of(piped.stdout, device.serial)
            assert str(device.device_id)[:8] in row or "lock_device" in row
            assert when(live.clock().isoformat()) in row  # the whole time, on the row's one line
            assert max(len(line) for line in piped.stdout.splitlines()) > 80
