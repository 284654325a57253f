"""`tabard provision` as a person meets it: a readable plan from --dry-run, and every mistake
in its input refused with what to fix, before any device is touched."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tabard.cli import app
from tests.factories.provisioning import PAYLOAD, write_inputs
from virtual_device import VirtualDevice
from virtual_device.host import DeviceHost


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TABARD_CONFIG_DIR", str(tmp_path / "config"))
    return CliRunner()


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "payload.json"
    path.write_text(PAYLOAD)
    return path


class TestDryRun:
    def test_prints_the_plan_with_its_reason_and_changes_nothing(
        self, runner: CliRunner, host: DeviceHost, tmp_path: Path
    ) -> None:
        running = host.add(VirtualDevice.create("SM-J510FN", seed=1), accept_new_keys=True)
        files = write_inputs(tmp_path / "inputs")
        before = running.device.users.copy(), running.device.device_owner
        result = runner.invoke(
            app,
            [
                "provision",
                "--target",
                running.address,
                "--dry-run",
                "--policy",
                str(files["policy"]),
            ],
        )
        assert result.exit_code == 0, result.output
        assert "Mode: profile_owner" in result.output and "needs 8.0" in result.output
        assert "1. Check the Tabard agent is installed" in result.output
        assert "Install the police apps: uk.police.tabard.gate" in result.output
        assert "nothing on the device was changed" in result.output
        assert (running.device.users, running.device.device_owner) == before
        key = tmp_path / "config" / "adbkey"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600

    def test_json_carries_the_plan_and_a_refusal_exits_non_zero(
        self, runner: CliRunner, host: DeviceHost
    ) -> None:
        device = VirtualDevice.create("SM-T580", seed=2)
        device.accounts.append("com.google:someone@gmail.com")
        running = host.add(device, accept_new_keys=True)
        result = runner.invoke(
            app, ["provision", "--target", running.address, "--dry-run", "--json"]
        )
        assert result.exit_code == 1
        (planned,) = json.loads(result.stdout)["devices"]
        assert (
            planned["status"] == "refused" and planned["refusals"][0]["code"] == "accounts_present"
        )
        assert planned["plan"]["mode"] == "device_owner_work_profile"


class TestBadInput:
    @pytest.mark.parametrize(
        ("args", "says"),
        [
            ([], "exactly one of --target"),
            (["--target", "a:1", "--usb", "x"], "exactly one of --target"),
            (["--target", "nohost:99999"], "is not HOST:PORT"),
            (
                ["--target", "h:5555", "--officer", "C1; reboot"],
                "--officer 'C1; reboot' is not valid",
            ),
            (["--target", "h:5555", "--report", "r.csv"], "must name a .json file"),
            (["--target", "h:5555"], "give --payload FILE"),
        ],
    )
    def test_refused_before_any_device_is_touched(
        self, runner: CliRunner, args: list[str], says: str
    ) -> None:
        result = runner.invoke(app, ["provision", *args])
        assert result.exit_code == 2
        assert says in result.output

    def test_a_payload_that_is_not_one(self, runner: CliRunner, tmp_path: Path) -> None:
        bad = tmp_path / "p.json"
        bad.write_text('{"server": "ftp://x", "token": "t", "ca_sha256": "' + "a" * 64 + '"}')
        result = runner.invoke(app, ["provision", "--target", "h:5555", "--payload", str(bad)])
        assert result.exit_code == 2 and "http(s) URL" in result.output

    def test_a_real_run_needs_a_login_so_it_is_on_record(
        self, runner: CliRunner, payload: Path
    ) -> None:
        result = runner.invoke(app, ["provision", "--target", "h:5555", "--payload", str(payload)])
        assert result.exit_code == 1 and "tabard login" in result.output

    @pytest.mark.parametrize(
        ("manifest", "says"),
        [
            ("officer\nC1\n", "must name a `target`"),
            ("target,colour\nh:5555,red\n", "unknown column(s) colour"),
            ("target,serial\nh:5555,abc\n", "line 2: give exactly one of target and serial"),
            ("target\nh:5555\nh:5555\n", "line 3: h:5555 is already on line 2"),
            ("target,group\nh:5555,a b\n", "line 2: group 'a b' is not valid"),
            ("target,expected_model\nh:5555,galaxy\n", "line 2: expected_model 'galaxy'"),
            ("target\n", "lists no devices"),
        ],
    )
    def test_a_bad_manifest_names_the_line(
        self, runner: CliRunner, tmp_path: Path, payload: Path, manifest: str, says: str
    ) -> None:
        path = tmp_path / "devices.csv"
        path.write_text(manifest)
        result = runner.invoke(
            app, ["provision", "--manifest", str(path), "--payload", str(payload)]
        )
        assert result.exit_code == 2
        assert says in result.output

    def test_a_report_that_is_not_one_is_not_overwritten(
        self, runner: CliRunner, tmp_path: Path, payload: Path
    ) -> None:
        report = tmp_path / "notes.json"
        report.write_text('{"shopping": ["milk"]}')
        result = runner.invoke(
            app,
            ["provision", "--target", "h:5555", "--payload", str(payload), "--report", str(report)],
        )
        assert result.exit_code == 2 and "not a Tabard provisioning report" in result.output
        assert report.read_text() == '{"shopping": ["milk"]}'
