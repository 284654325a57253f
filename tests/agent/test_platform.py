"""The Platform interface on both backends: the virtual model in process, and the same kind
of device over real ADB (the virtual adbd). A policy is applied as far as the device's
management allows and the rest reported by setting; the secure side is locked and wiped
without touching the personal side; what a backend cannot do is refused with the reason."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from device_agent import adb as adb_module
from device_agent.adb import AdbError
from device_agent.errors import AgentError, UnsupportedError
from device_agent.platform import open_platform, parse_platform_spec
from device_agent.platform.adb import AdbPlatform
from device_agent.platform.requirements import requirements
from device_agent.platform.virtual import VirtualPlatform
from tests.agent.test_secure_side import run, setup_device
from tests.factories.secure import NEW_PIN, PIN
from tests.server.test_policies import apply, put_policy
from tests.support import wait_for
from virtual_device import VirtualDevice
from virtual_device.apk import build_apk
from virtual_device.host import DeviceHost, RunningDevice
from virtual_device.scenarios import managed

POLICY: dict[str, Any] = {
    "device": {
        "usb_debugging_allowed": False,
        "unknown_sources_allowed": False,
        "passcode": {"min_length": 6, "quality": "numeric"},
    },
    "secure_side": {
        "camera_allowed": False,
        "share_into_work_allowed": False,
        "allowed_apps": [{"package": "uk.police.pnc.mobile"}, {"package": "uk.police.absent"}],
    },
    "personal_side": {"blocked_apps": ["com.android.chrome", "com.not.installed"]},
}


def managed_device(model: str) -> VirtualDevice:
    device = VirtualDevice.create(model, seed=7)
    managed(device)
    device.put_setting("secure", "install_non_market_apps", "1")
    return device


def personal(device: VirtualDevice) -> dict[str, Any]:
    data = device.to_dict()
    return {"apps": data["installs"]["0"], "files": data["files"]}


class TestRequirements:
    def test_each_requirement_names_the_setting_it_carries_out(self) -> None:
        wanted = {(r.path, r.kind, r.name) for r in requirements(POLICY)}
        assert ("device.usb_debugging_allowed", "setting", "global/adb_enabled") in wanted
        assert ("secure_side.camera_allowed", "work_restriction", "camera_disabled") in wanted
        assert ("personal_side.blocked_apps", "disable_app", "com.not.installed") in wanted
        assert ("secure_side.allowed_apps", "work_app", "uk.police.absent") in wanted
        assert ("device.passcode.quality", "device_restriction", "password_quality") in wanted

    def test_an_app_blocked_on_the_secure_side_is_removed_from_the_work_profile(self) -> None:
        policy = {"secure_side": {"blocked_apps": ["uk.police.oldforms"]}}
        wanted = [(r.path, r.kind, r.name) for r in requirements(policy)]
        assert wanted == [("secure_side.blocked_apps", "remove_work_app", "uk.police.oldforms")]

    def test_settings_that_allow_ask_for_nothing(self) -> None:
        assert requirements({"device": {"usb_debugging_allowed": True}}) == []
        assert requirements({}) == []


class TestVirtualBackend:
    def test_android_8_device_owner_applies_all_but_what_needs_android_9(self) -> None:
        device = managed_device("SM-T580")
        before = personal(device)
        unapplied = VirtualPlatform(device).apply_policy(POLICY)
        assert unapplied == ["secure_side.allowed_apps", "secure_side.share_into_work_allowed"]
        assert device.setting("global", "adb_enabled") == "0"
        assert device.setting("secure", "install_non_market_apps") == "0"
        assert device.device_policies[0]["password_quality"] == "numeric"
        assert device.device_policies[10]["camera_disabled"] is True
        assert device.installs[0]["com.android.chrome"].enabled is False
        assert device.is_installed("uk.police.pnc.mobile", 10)

        assert personal(device)["files"] == before["files"]

    def test_android_7_profile_owner_cannot_reach_the_device_wide_settings(self) -> None:
        device = managed_device("SM-J530F")
        unapplied = VirtualPlatform(device).apply_policy(POLICY)
        assert unapplied == [
            "device.passcode.min_length",
            "device.passcode.quality",
            "device.unknown_sources_allowed",
            "device.usb_debugging_allowed",
            "personal_side.blocked_apps",
            "secure_side.allowed_apps",
            "secure_side.share_into_work_allowed",
        ]
        assert device.setting("global", "adb_enabled") == "1"  # untouched
        assert device.installs[0]["com.android.chrome"].enabled is True
        assert device.device_policies[10] == {"camera_disabled": True}

    def test_wiping_the_secure_side_leaves_the_personal_side_as_it_was(self) -> None:
        device = managed_device("SM-J530F")
        before = personal(device)
        platform = VirtualPlatform(device)
        removed = platform.wipe_secure_side()
        assert removed["removed_user"] == 10 and "uk.police.pnc.mobile" in removed["apps"]
        assert device.managed_profile() is None
        assert personal(device) == before
        assert "work" not in platform.apps()
        with pytest.raises(UnsupportedError, match="no secure side"):
            platform.lock_secure_side()

    def test_locks_the_device_and_the_secure_side_and_clears_the_clipboard(self) -> None:
        device = managed_device("SM-J530F")
        device.set_clipboard("PNC result")
        platform = VirtualPlatform(device)
        platform.lock_device()
        platform.lock_secure_side()
        platform.clear_clipboard()
        assert device.locked is True
        assert device.users[10].running is False
        assert device.clipboard is None

    def test_factory_reset_erases_everything(self) -> None:
        device = managed_device("SM-T580")
        VirtualPlatform(device).factory_reset()
        assert list(device.users) == [0] and device.device_owner is None

    def test_a_spec_opens_a_managed_device_unless_told_otherwise(self, tmp_path: Path) -> None:
        managed_one = open_platform("virtual:SM-T580", tmp_path)
        fresh = open_platform("virtual:SM-T580+factory-fresh", tmp_path)
        now = "2026-11-21T09:00:00Z"
        assert managed_one.posture(now=now).management_mode == "device_owner_work_profile"
        assert fresh.posture(now=now).management_mode == "unmanaged"
        with pytest.raises(AgentError, match="no scenario"):
            open_platform("virtual:SM-T580+haunted", tmp_path)

    @pytest.mark.parametrize("spec", ["usb:1", "adb:", "virtual-ish:SM-J530F"])
    def test_an_unknown_spec_is_refused_with_the_forms_it_takes(self, spec: str) -> None:
        with pytest.raises(AgentError, match="adb:HOST:PORT"):
            parse_platform_spec(spec)


def over_adb(host: DeviceHost, model: str, tmp_path: Path) -> tuple[RunningDevice, AdbPlatform]:
    running = host.add(managed_device(model), accept_new_keys=True)
    platform = open_platform(f"adb:{running.address}", tmp_path / "keys")
    assert isinstance(platform, AdbPlatform)
    return running, platform


class TestAdbBackend:
    @pytest.mark.parametrize("model", ["SM-J530F", "SM-T580"], ids=["android-7", "android-8"])
    def test_the_posture_carries_the_secure_sides_app_versions_only(
        self, host: DeviceHost, tmp_path: Path, model: str
    ) -> None:
        """Android 8 lists them with `--show-versioncode`; 7 has no such option, so each managed
        app is read with `dumpsys package`. Either way: the managed apps of the work profile,
        none of Android's own, and nothing of the personal side."""
        running, platform = over_adb(host, model, tmp_path)
        device = running.device
        forms = tmp_path / "forms.apk"
        forms.write_bytes(build_apk("uk.police.forms", version_code=42))
        assert platform.install_app(
            forms, package="uk.police.forms", profile="work", allow_downgrade=False
        ) == (None, 42)

        seen = platform.posture(now="2026-12-07T09:00:00Z").app_versions
        known = VirtualPlatform(device).posture(now="2026-12-07T09:00:00Z").app_versions

        assert seen == known
        assert list(seen) == ["work"]
        secure = next(user for user in device.users if user != 0)
        expected = {
            name: device.packages[name].version_code
            for name in device.installed(secure)
            if name.startswith("uk.police.")
        }
        assert seen["work"] == expected
        assert seen["work"]["uk.police.forms"] == 42
        assert "com.whatsapp" not in str(seen)

    def test_facts_and_posture_match_what_the_device_is(
        self, host: DeviceHost, tmp_path: Path
    ) -> None:
        running, platform = over_adb(host, "SM-T580", tmp_path)
        local = VirtualPlatform(running.device)
        facts, expected = platform.facts(), local.facts()
        assert (facts.serial, facts.model, facts.sdk) == (
            expected.serial,
            expected.model,
            expected.sdk,
        )
        seen = platform.posture(now="2026-11-21T09:00:00Z")
        known = local.posture(now="2026-11-21T09:00:00Z")
        assert seen.apps == known.apps
        assert seen.management_mode == known.management_mode == "device_owner_work_profile"
        assert (seen.usb_debugging, seen.unknown_sources) == (True, True)
        assert (tmp_path / "keys" / "adbkey").stat().st_mode & 0o777 == 0o600

    def test_the_warranty_bit_is_read_as_the_device_has_it(
        self, host: DeviceHost, tmp_path: Path
    ) -> None:
        running, platform = over_adb(host, "SM-J530F", tmp_path)
        assert platform.warranty_bit() == 0
        running.device.props["ro.boot.warranty_bit"] = "1"  # flashed with unofficial software
        assert platform.warranty_bit() == 1
        assert platform.posture(now="2026-11-21T09:00:00Z").warranty_bit == 1

    def test_reads_share_one_kept_connection_and_outlive_a_reboot(
        self, host: DeviceHost, tmp_path: Path
    ) -> None:
        running, platform = over_adb(host, "SM-J530F", tmp_path)
        for _ in range(3):
            assert platform.warranty_bit() == 0
        platform.posture(now="2026-11-21T09:00:00Z")
        assert len(running.daemon.connections) == 1  # one, kept, for every read
        running.device.reboot()  # drops every connection, the kept one among them
        wait_for(lambda: not running.daemon.connections, "the reboot to drop the connection")
        running.device.props["ro.boot.warranty_bit"] = "1"
        assert platform.warranty_bit() == 1  # the stale connection replaced, the read made
        assert len(running.daemon.connections) == 1
        platform.close()
        wait_for(lambda: not running.daemon.connections, "the agent to let its connection go")

    def test_applies_what_the_shell_can_and_names_the_rest(
        self, host: DeviceHost, tmp_path: Path
    ) -> None:
        running, platform = over_adb(host, "SM-T580", tmp_path)
        device = running.device
        unapplied = platform.apply_policy(POLICY)
        assert unapplied == [
            "device.passcode.min_length",
            "device.passcode.quality",
            "device.usb_debugging_allowed",  # would cut the ADB link itself
            "secure_side.allowed_apps",  # uk.police.absent is not on the device
            "secure_side.camera_allowed",  # DevicePolicyManager: the DPC's job
            "secure_side.share_into_work_allowed",
        ]
        assert device.setting("secure", "install_non_market_apps") == "0"
        assert device.setting("global", "adb_enabled") == "1"
        assert device.installs[0]["com.android.chrome"].enabled is False
        assert device.is_installed("uk.police.pnc.mobile", 10)

    def test_removes_apps_blocked_on_the_secure_side_from_the_work_profile_only(
        self, host: DeviceHost, tmp_path: Path
    ) -> None:
        running, over = over_adb(host, "SM-T580", tmp_path)
        local = managed_device("SM-J530F")
        for platform, device in ((over, running.device), (VirtualPlatform(local), local)):
            secure = next(user for user in device.users if user != 0)
            device.install_existing("uk.police.pnc.mobile", 0)  # on the personal side as well
            policy = {"secure_side": {"blocked_apps": ["uk.police.pnc.mobile", "uk.not.there"]}}

            assert platform.apply_policy(policy) == []

            assert not device.is_installed("uk.police.pnc.mobile", secure)
            assert device.is_installed("uk.police.pnc.mobile", 0)
            posture = platform.posture(now="2026-12-07T09:00:00Z")
            assert "uk.police.pnc.mobile" not in posture.apps["work"]
            assert "uk.police.pnc.mobile" not in posture.app_versions["work"]

    def test_wipes_and_locks_the_secure_side_over_adb(
        self, host: DeviceHost, tmp_path: Path
    ) -> None:
        running, platform = over_adb(host, "SM-J530F", tmp_path)
        device = running.device
        device.screen_lock = "pin"
        before = personal(device)
        platform.lock_secure_side()
        assert device.users[10].running is False
        platform.lock_device()
        assert device.locked is True
        removed = platform.wipe_secure_side()
        assert removed["removed_user"] == 10 and "uk.police.pnc.mobile" in removed["apps"]
        assert device.managed_profile() is None
        assert personal(device) == before
        assert platform.wipe_secure_side() == {"removed_user": None, "apps": []}

    def test_what_the_shell_cannot_do_is_refused_with_the_reason(
        self, host: DeviceHost, tmp_path: Path
    ) -> None:
        running, platform = over_adb(host, "SM-J530F", tmp_path)
        before = copy.deepcopy(running.device.to_dict())
        with pytest.raises(UnsupportedError, match="device policy controller"):
            platform.factory_reset()
        with pytest.raises(UnsupportedError, match="clipboard"):
            platform.clear_clipboard()
        assert running.device.to_dict() == before

    def test_an_unaccepted_key_says_to_accept_the_prompt(
        self, host: DeviceHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(adb_module, "TIMEOUT_S", 0.5)
        running = host.add(managed_device("SM-J530F"), accept_new_keys=False)
        platform = open_platform(f"adb:{running.address}", tmp_path)
        with pytest.raises(AdbError, match="USB debugging prompt"):
            platform.facts()

    def test_a_device_that_is_not_there_is_named(self, tmp_path: Path) -> None:
        platform = open_platform("adb:127.0.0.1:9", tmp_path)
        with pytest.raises(AdbError, match=r"127\.0\.0\.1:9"):
            platform.facts()


class TestCheckInAppliesThePolicy:
    def test_applied_version_and_unapplied_settings_reach_the_server(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], tmp_path: Path
    ) -> None:
        device = setup_device(app, client, admin_headers, tmp_path, offline_hours=0)
        layer = {"name": "baseline", **POLICY}
        assert put_policy(client, admin_headers, layer).status_code == 201
        assert apply(client, admin_headers, "fleet", "baseline").status_code == 200
        agent = device.agent()
        try:
            answer = run(agent.check_in())
            applied = agent.applied_policy()
            events = [event.type for event in agent.outbox.pending(50)]
        finally:
            agent.close()
        device_id = device.state.enrolment().device_id
        shown = client.get(f"/api/v1/devices/{device_id}", headers=admin_headers).json()
        posture = shown["posture"]
        assert applied["version"] == answer["policy_version"]
        assert posture["policy_version_applied"] == answer["policy_version"]
        assert posture["policy_unapplied"] == applied["unapplied"]
        assert "device.usb_debugging_allowed" in applied["unapplied"]  # 7.0: no device owner
        assert "secure_side.camera_allowed" not in applied["unapplied"]
        assert "policy.applied" in events

    def test_an_agent_over_adb_applies_the_policy_and_shreds_on_the_servers_word(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        tmp_path: Path,
        host: DeviceHost,
    ) -> None:
        running = host.add(managed_device("SM-T580"), accept_new_keys=True)
        device = setup_device(
            app, client, admin_headers, tmp_path, offline_hours=0, platform=f"adb:{running.address}"
        )
        before = personal(running.device)
        agent = device.agent()
        try:
            run(agent.check_in())
            run(agent.enter(collar=device.collar, pin=PIN, new_pin=NEW_PIN))
            run(agent.leave())
            layer = {"name": "baseline", **POLICY}
            assert put_policy(client, admin_headers, layer).status_code == 201
            assert apply(client, admin_headers, "fleet", "baseline").status_code == 200
            device.wipe()
            run(agent.check_in())
            shredded = [e for e in agent.outbox.pending(50) if e.type == "container.shredded"]
        finally:
            agent.close()
        device_id = device.state.enrolment().device_id
        posture = client.get(f"/api/v1/devices/{device_id}", headers=admin_headers).json()[
            "posture"
        ]
        assert running.device.setting("secure", "install_non_market_apps") == "0"
        assert "secure_side.camera_allowed" in posture["policy_unapplied"]
        assert shredded[0].detail["secure_side_removed"]["removed_user"] == 10
        assert running.device.managed_profile() is None
        after = personal(running.device)  # the wipe left the personal side as it was
        assert after["files"] == before["files"] and after["apps"].keys() == before["apps"].keys()
        assert not running.device.installs[0]["com.android.chrome"].enabled  # the policy's doing


class TestApps:
    """Installing a catalogue APK goes through the device's own package manager on both
    backends, so Android's refusals (its words and codes) are what the agent reports."""

    def test_install_update_and_downgrade_read_the_same_on_both_backends(
        self, host: DeviceHost, tmp_path: Path
    ) -> None:
        running, over = over_adb(host, "SM-T580", tmp_path)
        local = VirtualPlatform(managed_device("SM-T580"))
        for platform in (over, local):
            v1, v2 = tmp_path / "v1.apk", tmp_path / "v2.apk"
            v1.write_bytes(build_apk("uk.police.forms", version_code=1))
            # A debug build, which Android lets `pm install -d` downgrade.
            v2.write_bytes(build_apk("uk.police.forms", version_code=2, debuggable=True))
            kw: dict[str, Any] = {"package": "uk.police.forms", "profile": "work"}
            assert platform.install_app(v1, allow_downgrade=False, **kw) == (None, 1)
            assert platform.install_app(v2, allow_downgrade=False, **kw) == (None, 2)
            refusal, version = platform.install_app(v1, allow_downgrade=False, **kw)
            assert version is None and refusal is not None
            assert refusal.reason == "INSTALL_FAILED_VERSION_DOWNGRADE"
            assert platform.app_versions()["work"]["uk.police.forms"] == 2
            assert "uk.police.forms" not in platform.app_versions()["personal"]
            assert platform.install_app(v1, allow_downgrade=True, **kw) == (None, 1)
            platform.remove_app("uk.police.forms", profile="work")
            assert "uk.police.forms" not in platform.app_versions()["work"]
        assert not running.device.fs.exists("/data/local/tmp/tabard-install.apk")
