"""`tabard agent enrol` as the README has IT run it: from the file `tabard tokens create
--json` wrote, and with help that needs no state directory."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tabard.cli import app
from tests.cli.conftest import Live


class TestEnrolFromTheTokenFile:
    def test_the_file_tokens_create_wrote_enrols_a_device(self, live: Live, tmp_path: Path) -> None:
        live.login("it_admin")
        token_file = tmp_path / "token.json"
        token_file.write_text(live.ok("tokens", "create", "--group", "response", "--json").stdout)
        state = tmp_path / "agent"
        enrolled = live.json("agent", "--state", str(state), "enrol", "--payload", str(token_file))
        assert enrolled["server"] == live.url
        assert enrolled["ca_sha256"] == json.loads(token_file.read_text())["payload"]["ca_sha256"]
        shown = live.json("devices", "show", enrolled["device_id"][:8])
        assert shown["group"] == "response"

    def test_the_bare_payload_still_works_and_a_missing_file_is_named(
        self, live: Live, tmp_path: Path
    ) -> None:
        live.login("it_admin")
        created = live.json("tokens", "create", "--group", "response")
        state = str(tmp_path / "agent")
        enrolled = live.json(
            "agent",
            "--state",
            state,
            "enrol",
            "--payload",
            "-",
            input=json.dumps(created["payload"]),
        )
        assert enrolled["server"] == live.url
        said = live.refused("agent", "--state", state, "enrol", "--payload", str(tmp_path / "no"))
        assert "cannot read" in said and "No such file or directory" in said


class TestAgentHelp:
    def test_help_needs_no_state_directory(self) -> None:
        for args in (["agent", "enrol", "--help"], ["agent", "secure", "enter", "--help"]):
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0, result.output
            assert "--help" in result.output and "Missing option" not in result.output

    def test_a_command_without_state_says_how_to_give_it(self) -> None:
        for args, named in (
            (["agent", "enrol", "--server", "http://x", "--token", "t"], "enrol"),
            (["agent", "secure", "leave"], "secure leave"),
            (["agent", "status"], "status"),
        ):
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 1, result.output
            assert f"tabard agent --state DIR {named}" in result.output
