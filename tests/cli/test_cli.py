"""What a person sees when the CLI cannot do what they asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tabard.cli import COMMANDS, app
from tabard.output import describe_detail, parse_duration


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TABARD_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("TABARD_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


class TestErrors:
    def test_staff_commands_need_a_login_first(self, runner: CliRunner) -> None:
        result = runner.invoke(app, ["devices", "list"])
        assert result.exit_code == 1
        assert "tabard login" in result.output

    def test_bad_configuration_names_the_variable(
        self, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TABARD_ACCESS_TOKEN_TTL_S", "5000")
        result = runner.invoke(app, ["db", "upgrade"])
        assert result.exit_code == 1
        assert "TABARD_ACCESS_TOKEN_TTL_S" in result.output

    def test_an_unreachable_server_says_so(self, runner: CliRunner) -> None:
        result = runner.invoke(
            app,
            ["login", "--server", "http://127.0.0.1:9", "--username", "x", "--password-stdin"],
            input="pw\n",
        )
        assert result.exit_code == 1
        assert "cannot reach http://127.0.0.1:9" in result.output

    def test_an_agent_that_is_not_enrolled_says_how_to_enrol(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        result = runner.invoke(app, ["agent", "--state", str(tmp_path / "a"), "checkin"])
        assert result.exit_code == 1
        assert "tabard agent enrol" in result.output

    def test_the_screen_without_a_running_agent_says_how_to_start_it(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        state = tmp_path / "a"
        result = runner.invoke(app, ["agent", "--state", str(state), "ui"])
        assert result.exit_code == 1
        assert f"tabard agent --state {state} run" in " ".join(result.output.split())

    def test_the_screen_needs_a_port(self, runner: CliRunner, tmp_path: Path) -> None:
        result = runner.invoke(app, ["agent", "--state", str(tmp_path), "ui", "--port", "70000"])
        assert result.exit_code != 0
        assert "0 to 65535" in result.output

    def test_enrol_needs_a_payload_or_a_server_and_token(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        result = runner.invoke(app, ["agent", "--state", str(tmp_path / "a"), "enrol"])
        assert result.exit_code == 1
        assert "--payload" in result.output

    def test_an_unknown_platform_is_refused(self, runner: CliRunner, tmp_path: Path) -> None:
        payload = tmp_path / "p.json"
        payload.write_text(
            '{"server": "http://127.0.0.1:9", "token": "t", "ca_sha256": "' + "a" * 64 + '"}'
        )
        result = runner.invoke(
            app,
            [
                "agent",
                "--state",
                str(tmp_path / "a"),
                "enrol",
                "--payload",
                str(payload),
                "--platform",
                "iphone:15",
            ],
        )
        assert result.exit_code == 1
        assert "virtual:MODEL" in result.output

    def test_a_bad_duration_is_a_usage_error(self, runner: CliRunner) -> None:
        result = runner.invoke(app, ["tokens", "create", "--group", "g", "--expires", "soon"])
        assert result.exit_code == 2


class TestHelpers:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("90s", timedelta(seconds=90)),
            ("15m", timedelta(minutes=15)),
            ("24h", timedelta(hours=24)),
            ("7d", timedelta(days=7)),
        ],
    )
    def test_parse_duration(self, text: str, expected: timedelta) -> None:
        assert parse_duration(text) == expected

    @pytest.mark.parametrize("text", ["", "7", "1w", "-1h", "1.5h"])
    def test_parse_duration_refuses_other_forms(self, text: str) -> None:
        with pytest.raises(typer.BadParameter):
            parse_duration(text)

    def test_located_errors_read_as_one_line(self) -> None:
        detail = [{"field": "facts.imei", "problem": "bad"}, {"field": "csr", "problem": "no"}]
        assert describe_detail(detail) == "facts.imei: bad; csr: no"


class TestPolicyOffline:
    """`tabard policy validate` and `schema` need no server and no login."""

    def test_a_valid_example(self, runner: CliRunner) -> None:
        path = Path(__file__).parents[2] / "examples" / "policies" / "specialist-unit.yaml"
        result = runner.invoke(app, ["policy", "validate", str(path), "--json"])
        assert result.exit_code == 0
        assert json.loads(result.stdout)["name"] == "specialist-unit"

    def test_located_errors_and_exit_1(self, runner: CliRunner, tmp_path: Path) -> None:
        path = tmp_path / "p.json"
        path.write_text(json.dumps({"name": "x", "device": {"passcode": {"min_length": 99}}}))
        result = runner.invoke(app, ["policy", "validate", str(path)])
        assert result.exit_code == 1
        assert f"{path}: device.passcode.min_length: must be at most 16" in result.output

    def test_a_key_given_twice_is_refused_with_its_line(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        path = tmp_path / "p.yaml"
        path.write_text(
            "name: x\ndevice:\n  encryption_required: true\n  encryption_required: false\n"
        )
        result = runner.invoke(app, ["policy", "validate", str(path)])
        assert result.exit_code == 1
        assert "p.yaml:4:3" in result.output and "given twice" in result.output

    def test_broken_yaml_says_where(self, runner: CliRunner, tmp_path: Path) -> None:
        path = tmp_path / "p.yaml"
        path.write_text("name: x\ndevice: [unclosed\n")
        result = runner.invoke(app, ["policy", "validate", str(path)])
        assert result.exit_code == 1
        assert "not valid YAML" in result.output and "p.yaml:3" in result.output

    def test_a_bad_target_is_a_usage_error(self, runner: CliRunner, tmp_path: Path) -> None:
        path = Path(__file__).parents[2] / "examples" / "policies" / "fleet-baseline.yaml"
        result = runner.invoke(app, ["policy", "apply", str(path), "--to", "planet:earth"])
        assert result.exit_code == 2
        assert "fleet, group:NAME or device:ID" in result.output

    def test_schema_is_json(self, runner: CliRunner) -> None:
        result = runner.invoke(app, ["policy", "schema"])
        assert result.exit_code == 0
        assert json.loads(result.stdout)["title"] == "Tabard policy document"


class TestStartingQuickly:
    """`tabard <command>` loads that command's module and not every other: a client command
    starts without the server, its database code or the agent."""

    LOADED = (
        "import sys, runpy\n"
        "sys.argv = ['tabard', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('tabard', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n"
    )

    def loaded(self, tmp_path: Path, *arguments: str) -> tuple[str, set[str]]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TABARD_")}
        env["TABARD_CONFIG_DIR"] = str(tmp_path / "config")
        ran = subprocess.run(
            [sys.executable, "-c", self.LOADED, *arguments],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        return ran.stdout, set(ran.stderr.split())

    @pytest.mark.parametrize("command", ["login", "policy", "devices", "apps", "mfa"])
    def test_a_client_command_loads_no_server_code(self, tmp_path: Path, command: str) -> None:
        shown, modules = self.loaded(tmp_path, command, "--help")
        assert "Usage: tabard" in shown
        assert not {"sqlalchemy", "fastapi", "mdm_server.main", "device_agent.cli"} & modules

    def test_the_command_s_name_is_still_read_when_it_alone_is_loaded(self, tmp_path: Path) -> None:
        shown, modules = self.loaded(tmp_path, "jobs", "--help")
        assert "Usage: tabard jobs" in shown
        assert "provisioning.cli" not in modules

    def test_help_lists_every_command(self, tmp_path: Path) -> None:
        shown, _ = self.loaded(tmp_path, "--help")
        listed = [
            line.split()[1]
            for line in shown.splitlines()
            if line.startswith("│ ") and len(line.split()) > 1 and line.split()[1] in COMMANDS
        ]
        assert sorted(listed) == sorted(COMMANDS)

    def test_an_unknown_command_is_named(self, tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TABARD_")}
        ran = subprocess.run(
            [sys.executable, "-m", "tabard", "polcy", "list"],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert ran.returncode == 2
        assert "No such command 'polcy'" in ran.stderr
