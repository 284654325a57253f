"""`tabard virtual-device` as someone would run it, in its own process."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from adb_shell.adb_device import AdbDeviceTcp
from adb_shell.auth.sign_pythonrsa import PythonRSASigner

from tests.factories.adb import TIMEOUT_S, adb_server, needs_real_adb
from virtual_device import VirtualDevice
from virtual_device.apk import build_apk
from virtual_device.host import DeviceHost
from virtual_device.scenarios import POLICE_APPS


@contextmanager
def running(*args: str) -> Iterator[tuple[subprocess.Popen[str], list[dict[str, str]]]]:
    """Start the command, read one JSON line per device, stop it with SIGTERM at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tabard", "virtual-device", "--port", "0", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    count = int(args[args.index("--count") + 1]) if "--count" in args else 1
    devices = [json.loads(process.stdout.readline()) for _ in range(count)]
    try:
        yield process, devices
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def adb_to(
    address: str, signer: PythonRSASigner, auth_timeout_s: float = TIMEOUT_S
) -> AdbDeviceTcp:
    host, port = address.rsplit(":", 1)
    device = AdbDeviceTcp(host, int(port), default_transport_timeout_s=TIMEOUT_S)
    device.connect(rsa_keys=[signer], auth_timeout_s=auth_timeout_s, read_timeout_s=TIMEOUT_S)
    return device


class TestVirtualDeviceCommand:
    def test_runs_devices_and_keeps_their_state_between_runs(
        self, tmp_path: Path, signer: PythonRSASigner
    ) -> None:
        state = tmp_path / "fleet.json"
        with running(
            "--model", "SM-J530F", "--count", "2", "--accept-new-keys", "--state", str(state)
        ) as (process, devices):
            assert [d["model"] for d in devices] == ["SM-J530F", "SM-J530F"]
            assert devices[0]["address"] != devices[1]["address"]
            adb = adb_to(devices[1]["address"], signer)
            adb.push(io.BytesIO(b"kept"), "/data/local/tmp/kept.txt")
            adb.close()
        assert process.returncode == 0
        saved = json.loads(state.read_text())
        assert [d["serial"] for d in saved["devices"]] == [d["serial"] for d in devices]

        with running("--count", "2", "--state", str(state)) as (_, again):
            assert [d["serial"] for d in again] == [d["serial"] for d in devices]
            adb = adb_to(again[1]["address"], signer)  # the key accepted last time still is
            assert adb.shell("cat /data/local/tmp/kept.txt") == "kept"
            adb.close()

    def test_a_scenario_shapes_the_device(self, signer: PythonRSASigner) -> None:
        with running("--model", "SM-T580", "--scenario", "rooted", "--accept-new-keys") as (
            _,
            devices,
        ):
            adb = adb_to(devices[0]["address"], signer)
            assert adb.shell("getprop ro.boot.warranty_bit") == "1\n"
            adb.close()

    def test_ctrl_c_with_a_host_connected_stops_quietly(self, signer: PythonRSASigner) -> None:
        with running("--model", "SM-T580", "--accept-new-keys") as (process, devices):
            adb = adb_to(devices[0]["address"], signer)
            assert adb.shell("getprop ro.product.model").strip() == "SM-T580"
            process.send_signal(signal.SIGINT)  # the host is still connected
            _, stderr = process.communicate(timeout=30)
            adb.close()
        assert process.returncode == 0
        assert stderr == ""

    def test_data_free_sets_the_space_df_shows_and_pm_install_checks(
        self, signer: PythonRSASigner
    ) -> None:
        with running("--data-free", "20M", "--accept-new-keys") as (_, devices):
            adb = adb_to(devices[0]["address"], signer)
            row = adb.shell("df /data").splitlines()[1].split()
            assert (row[3], row[5]) == (str(20 * 1024), "/data")
            adb.push(io.BytesIO(build_apk("uk.police.big")), "/data/local/tmp/big.apk")
            assert adb.shell("pm install /data/local/tmp/big.apk") == (
                "Failure [INSTALL_FAILED_INSUFFICIENT_STORAGE]\n"
            )
            adb.close()

    def test_an_unknown_model_names_the_known_ones(self) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "tabard", "virtual-device", "--model", "SM-G999"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert "SM-J530F" in result.stderr


@needs_real_adb
class TestApks:
    def test_the_apks_install_with_the_real_adb_client_and_the_agent_can_own_the_device(
        self, tmp_path: Path, host: DeviceHost
    ) -> None:
        out = tmp_path / "apks"
        made = subprocess.run(
            [sys.executable, "-m", "tabard", "virtual-device", "apks", "--out", str(out),
             "--package", "uk.police.traffic", "--json"],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        written = json.loads(made.stdout)
        assert written["apk"] == str(out / "tabard-agent.apk")
        apps = sorted(path.name for path in (out / "apps").iterdir())
        assert apps == sorted(f"{name}.apk" for name in (*POLICE_APPS, "uk.police.traffic"))
        running = host.add(VirtualDevice.create("SM-T580", seed=4), accept_new_keys=True)
        with adb_server(tmp_path) as adb:
            adb.connected(running)
            for apk in [out / "tabard-agent.apk", *sorted((out / "apps").iterdir())]:
                assert adb.on(running, "push", str(apk), "/data/local/tmp/x.apk").returncode == 0
                installed = adb.on(running, "shell", "pm install -r /data/local/tmp/x.apk")
                assert installed.stdout == "Success\n", (apk, installed.stdout)
            owner = adb.on(
                running, "shell", "dpm set-device-owner uk.police.tabard.agent/.Admin"
            ).stdout
            listed = adb.on(running, "shell", "pm list packages uk.police").stdout
        assert owner.startswith("Success: Device owner set to package")
        assert sorted(listed.split()) == sorted(
            f"package:{name}"
            for name in ("uk.police.tabard.agent", *POLICE_APPS, "uk.police.traffic")
        )

    def test_a_package_name_that_is_not_one_is_refused(self, tmp_path: Path) -> None:
        made = subprocess.run(
            [sys.executable, "-m", "tabard", "virtual-device", "apks", "--out", str(tmp_path),
             "--package", 'x"/><evil'],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert made.returncode == 2 and "not a package name" in made.stderr
        assert not (tmp_path / "apps").exists()
