"""`tabard provision` as a person meets it before any server is involved: every mistake in its
input refused at once, with what to fix, before any device is touched. (The plan, the server's
checks and the runs themselves are in tests/e2e/test_provision.py, against a real server.)"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tabard.cli import app
from tests.factories.provisioning import PAYLOAD, write_inputs
from virtual_device import VirtualDevice
from virtual_device.apk import build_apk
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


def problems(output: str) -> list[str]:
    """The listed problems, one a line, after the heading."""
    assert "the run cannot start, and no device was touched" in output, output
    return [line.strip()[2:] for line in output.splitlines() if line.strip().startswith("- ")]


class TestBadInput:
    @pytest.mark.parametrize(
        ("args", "says"),
        [
            ([], "exactly one of --target"),
            (["--target", "a:1", "--usb", "x"], "exactly one of --target"),
            (["--target", "nohost:99999"], "is not HOST:PORT"),
            (
                ["--target", "h:5555", "--officer", "C1; reboot"],
                '--officer "C1; reboot" is not valid: use a collar number',
            ),
            (["--target", "h:5555", "--report", "r.csv"], "must name a .json file"),
            (["--target", "h:5555"], "give --payload FILE"),
            (["--target", "h:5555", "--dry-run"], "give --payload FILE"),
        ],
    )
    def test_refused_before_any_device_is_touched(
        self, runner: CliRunner, args: list[str], says: str
    ) -> None:
        result = runner.invoke(app, ["provision", *args])
        assert result.exit_code == 2
        assert any(says in problem for problem in problems(result.output)), result.output

    def test_a_payload_that_is_not_one(self, runner: CliRunner, tmp_path: Path) -> None:
        bad = tmp_path / "p.json"
        bad.write_text('{"server": "ftp://x", "token": "t", "ca_sha256": "' + "a" * 64 + '"}')
        result = runner.invoke(app, ["provision", "--target", "h:5555", "--payload", str(bad)])
        assert result.exit_code == 2 and "http(s) URL" in result.output

    def test_every_problem_is_named_at_once_a_dry_run_too(
        self, runner: CliRunner, tmp_path: Path, payload: Path
    ) -> None:
        files = write_inputs(tmp_path / "inputs")
        (files["apps"] / "uk.police.pocketbook.apk").write_bytes(b"not a zip")
        (files["apps"] / "uk.police.incidents.apk").write_bytes(build_apk("uk.police.other"))
        wrong_agent = tmp_path / "agent.apk"
        wrong_agent.write_bytes(build_apk("uk.police.tabard.agent"))  # no .Admin receiver
        policy = tmp_path / "policy.yaml"
        policy.write_text("schema_version: 1\nname: x\ndevice: {usb_debugging_allowed: maybe}\n")
        for dry_run in ([], ["--dry-run"]):
            result = runner.invoke(
                app,
                [
                    "provision",
                    *("--target", "h:5555", "--payload", str(payload)),
                    *("--apk", str(wrong_agent), "--apps", str(files["apps"])),
                    *("--policy", str(policy), *dry_run),
                ],
            )
            assert result.exit_code == 2
            said = problems(result.output)
            assert len(said) == 5, said
            assert "declares no device-admin receiver uk.police.tabard.agent.Admin" in said[0]
            assert said[1].endswith(
                "uk.police.incidents.apk: this is uk.police.other; name it "
                "uk.police.other.apk, or give the APK of uk.police.incidents"
            )
            assert said[2].endswith(
                "uk.police.pocketbook.apk: not an APK (a zip holding AndroidManifest.xml)"
            )
            assert said[3].startswith(f"--policy {policy}: not a valid policy")
            assert said[4].startswith("log in first (`tabard login`)")

    def test_a_real_agent_apk_with_a_compiled_manifest_passes_its_checks(
        self, runner: CliRunner, tmp_path: Path, payload: Path
    ) -> None:
        apk = tmp_path / "real.apk"
        apk.write_bytes(build_apk("uk.police.tabard.agent", admin_receivers=(".Admin",)))
        result = runner.invoke(
            app, ["provision", "--target", "h:5555", "--payload", str(payload), "--apk", str(apk)]
        )
        assert problems(result.output) == [
            "log in first (`tabard login`): every run is recorded under your name, and its "
            "officers, groups and enrolment token are checked with the server"
        ]

    def test_a_compiled_manifest_is_read_for_its_package_and_receiver(
        self, runner: CliRunner, tmp_path: Path, payload: Path
    ) -> None:
        other, no_admin = tmp_path / "other.apk", tmp_path / "no-admin.apk"
        other.write_bytes(build_apk("uk.police.other", admin_receivers=(".Admin",)))
        no_admin.write_bytes(build_apk("uk.police.tabard.agent"))
        for apk, expected in ((other, "this is uk.police.other"), (no_admin, ".Admin")):
            result = runner.invoke(
                app,
                ["provision", "--target", "h:5555", "--payload", str(payload), "--apk", str(apk)],
            )
            assert any(expected in problem for problem in problems(result.output)), result.output

    def test_a_corrupt_compiled_manifest_is_named(
        self, runner: CliRunner, tmp_path: Path, payload: Path
    ) -> None:
        apk = tmp_path / "corrupt.apk"
        with zipfile.ZipFile(apk, "w") as archive:
            archive.writestr("AndroidManifest.xml", b"\x03\x00\x08\x00" + b"\x00" * 60)
        result = runner.invoke(
            app, ["provision", "--target", "h:5555", "--payload", str(payload), "--apk", str(apk)]
        )
        assert any(
            problem.startswith(f"--apk {apk}: ") and "AndroidManifest.xml" in problem
            for problem in problems(result.output)
        ), result.output

    def test_agents_need_devices_on_tcp(
        self, runner: CliRunner, tmp_path: Path, payload: Path
    ) -> None:
        result = runner.invoke(
            app,
            ["provision", "--usb", "0123abcd", "--payload", str(payload), "--agents", "a"],
        )
        assert "--agents runs each agent over ADB on TCP; these are on USB: usb:0123abcd" in (
            problems(result.output)
        )

    def test_every_mistake_in_a_manifest_is_named_with_its_line(
        self, runner: CliRunner, tmp_path: Path, payload: Path
    ) -> None:
        path = tmp_path / "devices.csv"
        path.write_text(
            "target,serial,officer,group,expected_model\n"
            "h:5555,,C1,response,SM-J530F\n"
            "h:5556,abc,C2,response,\n"
            "h:5555,,C3,response,\n"
            ",,C4,Response Team,galaxy\n"
            "h:5557,,C.5,traffic,\n"
        )
        result = runner.invoke(
            app, ["provision", "--manifest", str(path), "--payload", str(payload)]
        )
        assert result.exit_code == 2
        assert problems(result.output) == [
            f"{path}: line 3: give exactly one of target and serial",
            f"{path}: line 4: h:5555 is already on line 2",
            f"{path}: line 5: give exactly one of target and serial",
            f'{path}: line 6: officer "C.5" is not valid: use a collar number: up to 16 '
            "letters and digits",
        ]

    @pytest.mark.parametrize(
        ("manifest", "says"),
        [
            ("officer\nC1\n", "must name a `target`"),
            ("target,colour\nh:5555,red\n", "unknown column(s) colour"),
            ("target,group\nh:5555,a b\n", 'line 2: group "a b" is not valid'),
            ("target,expected_model\nh:5555,galaxy\n", 'line 2: expected_model "galaxy"'),
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

    def test_nothing_reaches_a_device_when_the_run_cannot_start(
        self, runner: CliRunner, host: DeviceHost, payload: Path
    ) -> None:
        running = host.add(VirtualDevice.create("SM-T580", seed=3), accept_new_keys=True)
        result = runner.invoke(
            app, ["provision", "--target", running.address, "--payload", str(payload), "--dry-run"]
        )
        assert result.exit_code == 2 and "log in first" in result.output
        assert running.device.adb_keys == []
