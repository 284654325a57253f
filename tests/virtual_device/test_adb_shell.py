"""adb-shell (the client Tabard itself uses) against virtual devices over real TCP."""

from __future__ import annotations

import io
import re
import threading
import zipfile
from collections.abc import Iterator

import pytest
from adb_shell.adb_device import AdbDeviceTcp
from adb_shell.auth.sign_pythonrsa import PythonRSASigner
from adb_shell.exceptions import AdbCommandFailureException, TcpTimeoutException

from tests.factories.adb import TIMEOUT_S, connect
from virtual_device import VirtualDevice
from virtual_device.apk import build_apk, test_signer
from virtual_device.host import DeviceHost

AGENT = "uk.police.tabard.agent"
PROFILES = [("SM-J510FN", None), ("SM-J530F", None), ("SM-J530F", "9"), ("SM-T580", None)]


def shell_ok(adb: AdbDeviceTcp, command: str) -> str:
    """Run a command over shell v1 and check its status the way provisioning must."""
    output = adb.shell(f"{command}; echo __RC=$?", timeout_s=TIMEOUT_S)
    assert isinstance(output, str)
    body, _, status = output.rpartition("__RC=")
    assert status.strip() == "0", output
    return body


class TestConnect:
    @pytest.mark.parametrize(("model", "android"), PROFILES)
    def test_connects_and_authenticates_on_every_profile(
        self, host: DeviceHost, signer: PythonRSASigner, model: str, android: str | None
    ) -> None:
        running = host.add(
            VirtualDevice.create(model, android=android, seed=1), accept_new_keys=True
        )
        adb = connect(running, signer)
        assert adb.available
        assert shell_ok(adb, "getprop ro.product.model") == f"{model}\n"
        adb.close()

    def test_an_unknown_key_gets_no_access(self, host: DeviceHost, signer: PythonRSASigner) -> None:
        device = VirtualDevice.create("SM-J530F", seed=2)
        running = host.add(device)
        with pytest.raises(TcpTimeoutException):
            connect(running, signer, auth_timeout_s=1.0)
        assert device.adb_keys == []

    def test_an_unknown_key_waits_until_the_user_allows_it(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        device = VirtualDevice.create("SM-J530F", seed=2)
        running = host.add(device)
        outcome: dict[str, object] = {}

        def patient() -> None:
            try:
                outcome["adb"] = connect(running, signer, auth_timeout_s=TIMEOUT_S)
            except Exception as error:  # pragma: no cover - reported below
                outcome["error"] = error

        waiting = threading.Thread(target=patient)
        waiting.start()
        host.wait_for_key(running)
        assert host.approve_pending(running) == 1
        waiting.join(timeout=TIMEOUT_S)
        assert "error" not in outcome
        adb = outcome["adb"]
        assert isinstance(adb, AdbDeviceTcp) and adb.available
        assert len(device.adb_keys) == 1
        adb.close()
        again = connect(running, signer)  # the key is remembered: no prompt this time
        assert again.available
        again.close()

    def test_a_stranger_cannot_use_a_device_that_trusts_someone_else(
        self, host: DeviceHost, signer: PythonRSASigner, stranger: PythonRSASigner
    ) -> None:
        running = host.add(VirtualDevice.create("SM-T580", seed=3), accept_new_keys=True)
        connect(running, signer).close()
        running.daemon.accept_new_keys = False
        with pytest.raises(TcpTimeoutException):
            connect(running, stranger, auth_timeout_s=1.0)


class TestProvisioningCommands:
    def test_a_profile_owner_work_profile_on_android_7(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        device = VirtualDevice.create("SM-J530F", seed=4)
        adb = connect(host.add(device, accept_new_keys=True), signer)
        apk = build_apk(AGENT, admin_receivers=(".AdminReceiver",))
        adb.push(io.BytesIO(apk), "/data/local/tmp/agent.apk", read_timeout_s=TIMEOUT_S)
        assert shell_ok(adb, "pm install -r /data/local/tmp/agent.apk") == "Success\n"
        assert shell_ok(adb, "pm create-user --profileOf 0 --managed Work") == (
            "Success: created user id 10\n"
        )
        shell_ok(adb, f"pm install-existing --user 10 {AGENT}")
        shell_ok(adb, f"dpm set-profile-owner --user 10 {AGENT}/.AdminReceiver")
        assert shell_ok(adb, "am start-user 10") == "Success: user started\n"
        shell_ok(adb, "rm /data/local/tmp/agent.apk")
        assert device.profile_owners[10].package == AGENT
        assert device.users[10].running and device.is_installed(AGENT, 10)
        assert not device.fs.exists("/data/local/tmp/agent.apk")
        adb.close()

    def test_a_refusal_arrives_as_text_with_v1_and_no_status(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        device = VirtualDevice.create("SM-J530F", seed=5)
        device.accounts.append("com.google:someone@gmail.com")
        adb = connect(host.add(device, accept_new_keys=True), signer)
        adb.push(io.BytesIO(build_apk(AGENT, admin_receivers=(".A",))), "/data/local/tmp/a.apk")
        adb.shell("pm install /data/local/tmp/a.apk")
        output = adb.shell(f"dpm set-device-owner {AGENT}/.A; echo __RC=$?")
        assert "already some accounts on the device" in output
        assert output.rstrip().endswith("__RC=255")
        assert device.device_owner is None
        adb.close()


class TestFiles:
    def test_push_pull_stat_and_list(self, host: DeviceHost, signer: PythonRSASigner) -> None:
        device = VirtualDevice.create("SM-J530F", android="9", seed=6)
        adb = connect(host.add(device, accept_new_keys=True), signer)
        payload = bytes(range(256)) * 4000  # a little over 1 MB, many packets
        adb.push(io.BytesIO(payload), "/sdcard/Download/big.bin", read_timeout_s=TIMEOUT_S)
        pulled = io.BytesIO()
        adb.pull("/sdcard/Download/big.bin", pulled, read_timeout_s=TIMEOUT_S)
        assert pulled.getvalue() == payload
        assert device.fs.read("/storage/emulated/0/Download/big.bin") == payload
        mode, size, _ = adb.stat("/sdcard/Download/big.bin")
        assert size == len(payload) and mode & 0o170000 == 0o100000
        assert b"big.bin" in [bytes(entry.filename) for entry in adb.list("/sdcard/Download")]
        with pytest.raises(AdbCommandFailureException, match="open failed: No such file"):
            adb.pull("/sdcard/nothing", io.BytesIO())
        adb.close()


class TestLifecycle:
    def test_reboot_drops_the_link_and_the_device_comes_back(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        device = VirtualDevice.create("SM-T580", seed=7)
        running = host.add(device, accept_new_keys=True)
        adb = connect(running, signer)
        boots = device.boot_count
        adb.reboot()
        with pytest.raises(Exception):  # noqa: B017, PT011 - the link is gone, however it shows
            adb.shell("echo still here", timeout_s=2, read_timeout_s=2)
        assert device.boot_count == boots + 1
        adb.close()
        again = connect(running, signer)
        assert again.shell("echo back") == "back\n"
        again.close()

    def test_after_a_factory_reset_adb_is_off_and_keys_forgotten(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        device = VirtualDevice.create("SM-J530F", seed=8)
        running = host.add(device, accept_new_keys=True)
        connect(running, signer).close()
        device.factory_reset()
        with pytest.raises(Exception):  # noqa: B017, PT011 - refused at the socket
            connect(running, signer, auth_timeout_s=1.0)
        device.put_setting("global", "adb_enabled", "1")  # the user turns USB debugging back on
        running.daemon.accept_new_keys = False
        with pytest.raises(TcpTimeoutException):
            connect(running, signer, auth_timeout_s=1.0)


class TestInProcessApi:
    def test_the_agents_virtual_platform_sees_what_adb_changed(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        from device_agent.platform.virtual import VirtualPlatform

        device = VirtualDevice.create("SM-T580", seed=9)
        platform = VirtualPlatform(device)
        before = platform.posture(now="2026-11-21T09:00:00Z")
        adb = connect(host.add(device, accept_new_keys=True), signer)
        adb.push(io.BytesIO(build_apk(AGENT)), "/data/local/tmp/a.apk")
        shell_ok(adb, "pm install /data/local/tmp/a.apk")
        shell_ok(adb, "settings put secure install_non_market_apps 1")
        adb.close()
        after = platform.posture(now="2026-11-21T09:05:00Z")
        assert before.unknown_sources is False and after.unknown_sources is True
        assert AGENT in after.apps["personal"] and AGENT not in before.apps["personal"]


def _push(adb: AdbDeviceTcp, apk: bytes, path: str = "/data/local/tmp/x.apk") -> str:
    adb.push(io.BytesIO(apk), path, read_timeout_s=TIMEOUT_S)
    return path


def _packages(device: VirtualDevice) -> tuple[object, ...]:
    """What an install may change: packages, who has them, and the free space on /data."""
    state = device.to_dict()
    return state["packages"], state["installs"], state["data_free"]


def _install(adb: AdbDeviceTcp, apk: bytes, flags: str = "-r") -> str:
    output = adb.shell(f"pm install {flags} {_push(adb, apk)}", timeout_s=TIMEOUT_S)
    assert isinstance(output, str)
    return output


class TestPmInstallRefusesAsAndroidDoes:
    """Each refusal leaves the device as it was: the package, its version, its signer and
    the free space on /data."""

    @pytest.fixture
    def device(self) -> VirtualDevice:
        return VirtualDevice.create("SM-J530F", seed=31)

    @pytest.fixture
    def adb(
        self, host: DeviceHost, signer: PythonRSASigner, device: VirtualDevice
    ) -> Iterator[AdbDeviceTcp]:
        adb = connect(host.add(device, accept_new_keys=True), signer)
        yield adb
        adb.close()

    def test_an_update_records_version_sdk_signer_and_size(
        self, adb: AdbDeviceTcp, device: VirtualDevice
    ) -> None:
        free = device.data_free
        apk = build_apk(AGENT, version_code=2, version_name="2.5", padding=100_000)
        assert _install(adb, apk) == "Success\n"
        package = device.packages[AGENT]
        assert (package.version_code, package.version_name, package.min_sdk) == (2, "2.5", 24)
        assert package.signer_sha256 == test_signer().certificate_sha256
        assert package.apk_size == len(apk) and device.data_free == free - len(apk)

    def test_a_downgrade_without_d_is_refused(
        self, adb: AdbDeviceTcp, device: VirtualDevice
    ) -> None:
        _install(adb, build_apk(AGENT, version_code=3))
        before = _packages(device)
        assert _install(adb, build_apk(AGENT, version_code=2)) == (
            "Failure [INSTALL_FAILED_VERSION_DOWNGRADE]\n"
        )
        assert _packages(device) == before
        # -d asks for the downgrade, but a release build on a user build is never downgraded
        # with its data kept (Android 7.0 on): only a debug build, or any app on a debuggable
        # device.
        assert _install(adb, build_apk(AGENT, version_code=2), "-r -d") == (
            "Failure [INSTALL_FAILED_VERSION_DOWNGRADE]\n"
        )
        assert _packages(device) == before
        _install(adb, build_apk(AGENT, version_code=4, debuggable=True))
        assert _install(adb, build_apk(AGENT, version_code=2), "-r -d") == "Success\n"
        assert _install(adb, build_apk(AGENT, version_code=3), "-r") == "Success\n"
        device.props["ro.debuggable"] = "1"
        assert _install(adb, build_apk(AGENT, version_code=1), "-r -d") == "Success\n"

    def test_an_update_signed_by_another_key_is_refused(
        self, adb: AdbDeviceTcp, device: VirtualDevice
    ) -> None:
        _install(adb, build_apk(AGENT, version_code=1))
        before = _packages(device)
        other = build_apk(AGENT, version_code=2, signer=test_signer("someone-else"))
        assert _install(adb, other) == (
            f"Failure [INSTALL_FAILED_UPDATE_INCOMPATIBLE: Package {AGENT} signatures do not "
            "match the previously installed version; ignoring!]\n"
        )
        assert _packages(device) == before

    def test_an_app_for_a_newer_android_is_refused(
        self, adb: AdbDeviceTcp, device: VirtualDevice
    ) -> None:
        output = _install(adb, build_apk(AGENT, min_sdk=28))
        assert output.startswith("Failure [INSTALL_FAILED_OLDER_SDK: ")
        assert "Requires newer sdk version #28 (current version is #24)" in output
        assert AGENT not in device.packages

    def test_an_apk_too_big_for_data_is_refused_and_df_agrees(
        self, adb: AdbDeviceTcp, device: VirtualDevice
    ) -> None:
        device.data_free = 520 * 1024 * 1024  # just above the 500 MB low-storage threshold
        row = adb.shell("df /data").splitlines()[1].split()
        assert row[3] == str(device.data_free // 1024)
        apk = build_apk(AGENT, padding=30 * 1024 * 1024)
        assert _install(adb, apk) == "Failure [INSTALL_FAILED_INSUFFICIENT_STORAGE]\n"
        assert AGENT not in device.packages and device.data_free == 520 * 1024 * 1024
        assert _install(adb, build_apk(AGENT, padding=1024 * 1024)) == "Success\n"

    def test_a_tampered_apk_has_no_certificates(
        self, adb: AdbDeviceTcp, device: VirtualDevice
    ) -> None:
        apk = bytearray(build_apk(AGENT, padding=8192))
        apk[len(apk) // 2] ^= 0x01  # inside the stored filler
        output = _install(adb, bytes(apk))
        assert output.startswith(
            "Failure [INSTALL_PARSE_FAILED_NO_CERTIFICATES: Failed to collect certificates "
            "from /data/local/tmp/x.apk: "
        )
        assert AGENT not in device.packages

    def test_a_text_manifest_is_not_an_apk(self, adb: AdbDeviceTcp, device: VirtualDevice) -> None:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("AndroidManifest.xml", f'<manifest package="{AGENT}"/>')
        output = _install(adb, out.getvalue())
        assert output.startswith(
            "Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed to parse /data/local/tmp/x.apk: "
        )
        assert AGENT not in device.packages


class TestPackageQueries:
    def test_list_packages_shows_version_codes_on_android_8(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        adb = connect(
            host.add(VirtualDevice.create("SM-T580", seed=32), accept_new_keys=True), signer
        )
        _install(adb, build_apk(AGENT, version_code=41))
        assert shell_ok(adb, f"pm list packages --show-versioncode {AGENT}") == (
            f"package:{AGENT} versionCode:41\n"
        )
        adb.close()

    def test_list_packages_on_android_7_does_not_know_the_option(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        adb = connect(
            host.add(VirtualDevice.create("SM-J510FN", seed=33), accept_new_keys=True), signer
        )
        output = adb.shell("pm list packages --show-versioncode; echo __RC=$?")
        assert output == "Error: Unknown option: --show-versioncode\n__RC=255\n"
        adb.close()

    @pytest.mark.parametrize(
        ("model", "android", "tail"),
        [
            ("SM-J530F", None, "enabled=0"),
            ("SM-T580", None, "enabled=0 instant=false"),
            ("SM-J530F", "9", "enabled=0 instant=false virtual=false"),
        ],
    )
    def test_dumpsys_package_has_android_s_shape(
        self, host: DeviceHost, signer: PythonRSASigner, model: str, android: str | None, tail: str
    ) -> None:
        device = VirtualDevice.create(model, android=android, seed=34)
        adb = connect(host.add(device, accept_new_keys=True), signer)
        _install(
            adb, build_apk(AGENT, version_code=7, version_name="7.2", min_sdk=24, target_sdk=27)
        )
        lines = shell_ok(adb, f"dumpsys package {AGENT}").splitlines()
        assert lines[0] == "Packages:"
        assert re.fullmatch(rf"  Package \[{re.escape(AGENT)}\] \([0-9a-f]+\):", lines[1])
        assert f"    userId={device.packages[AGENT].uid}" in lines
        assert "    versionCode=7 minSdk=24 targetSdk=27" in lines
        assert "    versionName=7.2" in lines
        assert f"    codePath=/data/app/{AGENT}-1" in lines
        user = next(line for line in lines if line.startswith("    User 0: "))
        assert " installed=true hidden=false " in user and user.endswith(tail)
        assert shell_ok(adb, "dumpsys package uk.police.nothing") == ""
        adb.close()
