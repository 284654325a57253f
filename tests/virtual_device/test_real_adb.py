"""The real `adb` client (Debian's package) against virtual devices: it must not be able to
tell them from phones for anything Tabard does."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories.adb import ADB, AdbClient, adb_server, needs_real_adb
from virtual_device import VirtualDevice
from virtual_device.apk import build_apk, test_signer
from virtual_device.host import DeviceHost, RunningDevice

pytestmark = needs_real_adb


@pytest.fixture
def adb(tmp_path: Path) -> Iterator[AdbClient]:
    with adb_server(tmp_path) as client:
        yield client


@pytest.fixture
def j5(host: DeviceHost) -> RunningDevice:
    return host.add(VirtualDevice.create("SM-J530F", seed=21), accept_new_keys=True)


def connected(adb: AdbClient, running: RunningDevice) -> RunningDevice:
    adb("connect", running.address)
    assert adb.on(running, "wait-for-device", timeout=30).returncode == 0
    return running


class TestRealAdb:
    @pytest.mark.parametrize(
        ("model", "android"),
        [("SM-J510FN", None), ("SM-J530F", None), ("SM-J530F", "9"), ("SM-T580", None)],
    )
    def test_connect_and_read_the_model(
        self, adb: AdbClient, host: DeviceHost, model: str, android: str | None
    ) -> None:
        running = connected(
            adb,
            host.add(VirtualDevice.create(model, android=android, seed=1), accept_new_keys=True),
        )
        result = adb.on(running, "shell", "getprop", "ro.product.model")
        assert (result.returncode, result.stdout) == (0, f"{model}\n")
        assert f"{running.address}\tdevice" in adb("devices").stdout

    def test_users_and_exit_status_through_shell_v2(
        self, adb: AdbClient, j5: RunningDevice
    ) -> None:
        connected(adb, j5)
        assert adb.on(j5, "shell", "pm list users").stdout == (
            "Users:\n\tUserInfo{0:Owner:c13} running\n"
        )
        failed = adb.on(j5, "shell", "nosuch")
        assert (failed.returncode, failed.stdout, failed.stderr) == (
            127,
            "",
            "/system/bin/sh: nosuch: not found\n",
        )
        assert adb.on(j5, "shell", "false; echo $?").stdout == "1\n"

    @pytest.mark.parametrize("android", [None, "9"])
    def test_push_and_pull_round_trip(
        self, adb: AdbClient, host: DeviceHost, tmp_path: Path, android: str | None
    ) -> None:
        running = connected(
            adb,
            host.add(
                VirtualDevice.create("SM-J530F", android=android, seed=3), accept_new_keys=True
            ),
        )
        original = tmp_path / "payload.bin"
        original.write_bytes(os.urandom(700_000))
        assert adb.on(running, "push", str(original), "/data/local/tmp/p.bin").returncode == 0
        back = tmp_path / "back.bin"
        assert adb.on(running, "pull", "/data/local/tmp/p.bin", str(back)).returncode == 0
        assert back.read_bytes() == original.read_bytes()
        assert running.device.fs.read("/data/local/tmp/p.bin") == original.read_bytes()
        missing = adb.on(running, "pull", "/data/local/tmp/none", str(tmp_path / "n"))
        assert missing.returncode == 1
        assert "remote object '/data/local/tmp/none'" in missing.stdout + missing.stderr

    def test_push_a_directory(self, adb: AdbClient, j5: RunningDevice, tmp_path: Path) -> None:
        connected(adb, j5)
        folder = tmp_path / "apks"
        folder.mkdir()
        (folder / "a.apk").write_bytes(b"a")
        (folder / "b.apk").write_bytes(b"b")
        assert adb.on(j5, "push", str(folder), "/data/local/tmp/").returncode == 0
        assert j5.device.fs.read("/data/local/tmp/apks/b.apk") == b"b"

    def test_an_unknown_key_is_unauthorised_until_the_user_allows_it(
        self, adb: AdbClient, host: DeviceHost
    ) -> None:
        running = host.add(VirtualDevice.create("SM-J530F", seed=4))
        assert "failed to authenticate" in adb("connect", running.address).stdout
        assert f"{running.address}\tunauthorized" in adb("devices").stdout
        host.wait_for_key(running)
        assert host.approve_pending(running) == 1
        assert adb.on(running, "wait-for-device", timeout=30).returncode == 0
        assert f"{running.address}\tdevice" in adb("devices").stdout

    def test_an_interactive_shell_reads_commands_from_stdin(
        self, adb: AdbClient, j5: RunningDevice
    ) -> None:
        connected(adb, j5)
        result = adb.on(j5, "shell", stdin="getprop ro.product.model\npm list users\nexit\n")
        assert result.stdout == "SM-J530F\nUsers:\n\tUserInfo{0:Owner:c13} running\n"

    def test_a_hundred_shells_multiplexed_on_one_connection(
        self, adb: AdbClient, j5: RunningDevice
    ) -> None:
        connected(adb, j5)
        assert adb.env is not None
        processes = [
            subprocess.Popen(
                [ADB or "adb", "-s", j5.address, "shell", f"echo {n}"],
                env=adb.env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in range(100)
        ]
        outputs = [process.communicate(timeout=60)[0] for process in processes]
        assert outputs == [f"{n}\n" for n in range(100)]
        assert len(j5.daemon.connections) == 1  # the adb server multiplexes its streams

    def test_root_is_refused_on_a_user_build(self, adb: AdbClient, j5: RunningDevice) -> None:
        connected(adb, j5)
        assert adb.on(j5, "root").stdout == "adbd cannot run as root in production builds\n"


class TestAdbInstall:
    """`adb install` streams the APK to `cmd package install -S SIZE` on Android 7+ devices
    (their banner lists the `cmd` feature); what it says comes back to the person typing."""

    AGENT = "uk.police.tabard.agent"

    def _install(
        self, adb: AdbClient, running: RunningDevice, tmp_path: Path, apk: bytes, *flags: str
    ):  # type: ignore[no-untyped-def]
        path = tmp_path / "app.apk"
        path.write_bytes(apk)
        return adb.on(running, "install", *flags, str(path), timeout=120)

    def test_installs_and_dumpsys_package_reads_it_back(
        self, adb: AdbClient, j5: RunningDevice, tmp_path: Path
    ) -> None:
        connected(adb, j5)
        apk = build_apk(self.AGENT, version_code=5, version_name="5.1", padding=2 * 1024 * 1024)
        result = self._install(adb, j5, tmp_path, apk)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Success" in result.stdout
        assert j5.device.packages[self.AGENT].apk_size == len(apk)
        dump = adb.on(j5, "shell", "dumpsys", "package", self.AGENT).stdout.splitlines()
        assert "    versionCode=5 minSdk=24 targetSdk=28" in dump
        assert "    versionName=5.1" in dump
        assert f"    codePath=/data/app/{self.AGENT}-1" in dump
        assert any(line.startswith("    User 0: ") and " installed=true " in line for line in dump)

    def test_refusals_reach_the_adb_client(
        self, adb: AdbClient, j5: RunningDevice, tmp_path: Path
    ) -> None:
        connected(adb, j5)
        assert (
            self._install(adb, j5, tmp_path, build_apk(self.AGENT, version_code=3)).returncode == 0
        )
        older = self._install(adb, j5, tmp_path, build_apk(self.AGENT, version_code=2))
        assert older.returncode == 1
        assert "INSTALL_FAILED_VERSION_DOWNGRADE" in older.stdout + older.stderr
        other_key = build_apk(self.AGENT, version_code=4, signer=test_signer("not-the-force"))
        foreign = self._install(adb, j5, tmp_path, other_key)
        assert "INSTALL_FAILED_UPDATE_INCOMPATIBLE" in foreign.stdout + foreign.stderr
        newer_android = self._install(adb, j5, tmp_path, build_apk("uk.police.p", min_sdk=28))
        assert "INSTALL_FAILED_OLDER_SDK" in newer_android.stdout + newer_android.stderr
        assert j5.device.packages[self.AGENT].version_code == 3
        assert "uk.police.p" not in j5.device.packages

    def test_a_full_data_partition_refuses_the_install(
        self, adb: AdbClient, j5: RunningDevice, tmp_path: Path
    ) -> None:
        connected(adb, j5)
        j5.device.data_free = 500 * 1024 * 1024
        result = self._install(adb, j5, tmp_path, build_apk(self.AGENT))
        assert "INSTALL_FAILED_INSUFFICIENT_STORAGE" in result.stdout + result.stderr
        assert self.AGENT not in j5.device.packages
        df = adb.on(j5, "shell", "df", "/data").stdout.splitlines()
        assert df[1].split()[3] == str(500 * 1024)
