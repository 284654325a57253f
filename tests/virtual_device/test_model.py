from __future__ import annotations

import json

import pytest

from device_agent.platform.virtual import VirtualPlatform
from mdm_server.devices.schemas import DeviceFacts, Posture
from virtual_device import PROFILES, VirtualDevice, profile_for
from virtual_device.android import Component


class TestProfiles:
    @pytest.mark.parametrize(
        ("key", "release", "sdk"),
        [
            ("SM-J510FN", "7.1.1", 25),
            ("SM-J530F", "7.0", 24),
            ("SM-J530F@9", "9", 28),
            ("SM-T580", "8.1.0", 27),
        ],
    )
    def test_match_the_reference_builds(self, key: str, release: str, sdk: int) -> None:
        props = PROFILES[key].props()
        assert (props["ro.build.version.release"], props["ro.build.version.sdk"]) == (
            release,
            str(sdk),
        )

    def test_nougat_banner_advertises_shell_v2(self) -> None:
        assert PROFILES["SM-J530F"].banner == (
            b"device::ro.product.name=j5y17ltexx;ro.product.model=SM-J530F;"
            b"ro.product.device=j5y17lte;features=cmd,shell_v2"
        )

    def test_a_model_and_android_version_pick_the_profile(self) -> None:
        assert profile_for("SM-J530F", "9").key == "SM-J530F@9"
        with pytest.raises(KeyError, match="known"):
            profile_for("SM-G999")


class TestVirtualDevice:
    def test_round_trips_through_readable_json(self) -> None:
        device = VirtualDevice.create("SM-T580", seed=7)
        text = json.dumps(device.to_dict(), indent=2)
        assert VirtualDevice.from_dict(json.loads(text)) == device

    def test_the_same_seed_gives_the_same_identity(self) -> None:
        assert (
            VirtualDevice.create("SM-J530F", seed=3).serial
            == VirtualDevice.create("SM-J530F", seed=3).serial
        )

    @pytest.mark.parametrize("key", sorted(PROFILES))
    def test_facts_and_posture_satisfy_the_device_protocol(self, key: str) -> None:
        model, _, android = key.partition("@")
        platform = VirtualPlatform(VirtualDevice.create(model, android=android or None, seed=1))
        facts = DeviceFacts(**platform.facts().as_protocol())  # validates, IMEI check digit too
        assert (facts.imei is None) == (model == "SM-T580")
        Posture(**platform.posture(now="2026-11-21T09:00:00Z").as_protocol())


class TestManagementMode:
    """The posture's management mode, which the policy engine judges capability by."""

    DPC = Component.parse("uk.police.tabard.gate/.Admin")

    def _mode(self, device: VirtualDevice) -> str | None:
        return VirtualPlatform(device).posture(now="2026-11-21T09:00:00Z").management_mode

    def test_a_fresh_device_is_unmanaged(self) -> None:
        assert self._mode(VirtualDevice.create("SM-J530F", seed=1)) == "unmanaged"

    def test_a_work_profile_alone_is_profile_owner(self) -> None:
        device = VirtualDevice.create("SM-J510FN", seed=1)
        profile = device.create_managed_profile(parent=0, name="Work")
        assert profile is not None
        device.profile_owners[profile.id] = self.DPC
        assert self._mode(device) == "profile_owner"

    def test_android_8_device_owner_beside_a_work_profile(self) -> None:
        device = VirtualDevice.create("SM-T580", seed=1)
        device.device_owner = self.DPC
        assert device.create_managed_profile(parent=0, name="Work") is not None
        assert self._mode(device) == "device_owner_work_profile"

    def test_android_7_device_owner_with_a_knox_workspace(self) -> None:
        from virtual_device.scenarios import apply

        device = apply(VirtualDevice.create("SM-J530F", seed=1), "knox-container")
        device.device_owner = self.DPC
        assert self._mode(device) == "device_owner_knox_workspace"

    def test_a_device_owner_alone(self) -> None:
        device = VirtualDevice.create("SM-J530F", seed=1)
        device.device_owner = self.DPC
        assert self._mode(device) == "device_owner"


class TestScenarios:
    def test_rooted_blows_the_warranty_bit(self) -> None:
        from virtual_device.scenarios import apply

        device = apply(VirtualDevice.create("SM-J530F", seed=1), "rooted")
        assert device.warranty_bit == 1
        assert device.getprop("ro.warranty_bit") == "1"

    def test_old_patch_is_older_than_the_shipped_one(self) -> None:
        from virtual_device.scenarios import apply

        fresh = VirtualDevice.create("SM-T580", seed=1)
        old = apply(VirtualDevice.create("SM-T580", seed=1), "old-patch")
        assert old.getprop("ro.build.version.security_patch") < fresh.getprop(
            "ro.build.version.security_patch"
        )

    def test_an_unknown_scenario_names_the_known_ones(self) -> None:
        from virtual_device.scenarios import apply

        with pytest.raises(KeyError, match="factory-fresh"):
            apply(VirtualDevice.create("SM-T580"), "haunted")


class TestLifecycle:
    def test_factory_reset_keeps_hardware_and_wipes_the_rest(self) -> None:
        from virtual_device.scenarios import apply
        from virtual_device.shell import Shell

        device = apply(VirtualDevice.create("SM-J530F", seed=5), "rooted")
        device.accounts.append("com.google:x@gmail.com")
        device.adb_keys.append("QAAAAkey user@host")
        Shell(device).run("pm create-user --profileOf 0 --managed Work; echo hi > /sdcard/f")
        serial, imei = device.serial, device.imei
        device.factory_reset()
        assert (device.serial, device.imei, device.warranty_bit) == (serial, imei, 1)
        assert list(device.users) == [0]
        assert device.accounts == [] and device.adb_keys == []
        assert not device.fs.exists("/sdcard/f")
        assert device.adb_enabled is False

    def test_reboot_locks_a_secure_screen_and_restarts_profiles(self) -> None:
        from virtual_device.shell import Shell

        device = VirtualDevice.create("SM-T580", seed=5)
        device.screen_lock = "pin"
        Shell(device).run("pm create-user --profileOf 0 --managed Work")
        events: list[str] = []
        device.subscribe(events.append)
        device.reboot()
        assert device.locked and device.users[10].running
        assert events == ["reboot"]

    def test_a_provisioned_device_round_trips_through_json(self) -> None:
        from virtual_device.apk import build_apk
        from virtual_device.shell import Shell

        device = VirtualDevice.create("SM-T580", seed=9)
        device.fs.write(
            "/data/local/tmp/a.apk",
            build_apk("uk.police.tabard.agent", admin_receivers=(".Admin",)),
            mode=0o644,
            mtime=1,
        )
        shell = Shell(device)
        shell.run(
            "pm install /data/local/tmp/a.apk && dpm set-device-owner "
            "uk.police.tabard.agent/.Admin && pm create-user --profileOf 0 --managed W"
        )
        text = json.dumps(device.to_dict(), indent=2)
        restored = VirtualDevice.from_dict(json.loads(text))
        assert restored == device
        assert restored.device_owner is not None
        assert restored.device_owner.package == "uk.police.tabard.agent"
        assert restored.fs.read("/data/local/tmp/a.apk") == device.fs.read("/data/local/tmp/a.apk")
