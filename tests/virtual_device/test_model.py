from __future__ import annotations

import json

import pytest

from device_agent.platform.virtual import VirtualPlatform
from mdm_server.devices.schemas import DeviceFacts, Posture
from virtual_device import PROFILES, VirtualDevice, profile_for


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
