"""Provisioning virtual devices over the real ADB protocol: every profile ends managed, a
second run changes nothing, and each thing that can go wrong ends as docs/provisioning.md
says."""

from __future__ import annotations

import json
from typing import Any

import pytest
from adb_shell.auth.sign_pythonrsa import PythonRSASigner

from device_agent.adb import AdbConnection, AdbError
from device_agent.handover import AGENT_PACKAGE
from device_agent.platform.virtual import VirtualPlatform
from tests.factories.provisioning import BLOCKED, PAYLOAD, PROFILES, run
from virtual_device import VirtualDevice
from virtual_device.android import Component
from virtual_device.host import DeviceHost, RunningDevice
from virtual_device.scenarios import POLICE_APPS, apply


def fresh(host: DeviceHost, model: str = "SM-T580", android: str | None = None, **kw: Any):
    return host.add(
        VirtualDevice.create(model, android=android, seed=7), accept_new_keys=True, **kw
    )


def state(running: RunningDevice) -> dict[str, Any]:
    """The device's state, but for the host keys its user has allowed."""
    data = running.device.to_dict()
    data.pop("adb_keys")
    return data


def assert_managed(device: VirtualDevice, *, device_owner: bool) -> None:
    """What provisioning promises, read from the model itself."""
    agent = Component(AGENT_PACKAGE, f"{AGENT_PACKAGE}.Admin")
    assert (device.device_owner == agent) is device_owner
    profile = device.managed_profile()
    assert profile is not None and profile.running
    assert device.profile_owners == {profile.id: agent}
    assert set(POLICE_APPS) <= set(device.installed(profile.id))
    assert device.installs[0][BLOCKED].enabled is False
    assert device.setting("global", "package_verifier_enable") == "1"
    handed = VirtualPlatform(device).handed_over()
    assert handed is not None and json.loads(handed.payload) == json.loads(PAYLOAD)


class TestEveryProfile:
    @pytest.mark.parametrize(("model", "android"), PROFILES)
    def test_ends_with_the_owners_profile_apps_and_settings(
        self, host: DeviceHost, signer: PythonRSASigner, model: str, android: str | None
    ) -> None:
        running = fresh(host, model, android)
        result = run(running, signer)
        assert result.status == "provisioned", result.message
        android_8 = running.device.sdk >= 26
        assert result.mode == ("device_owner_work_profile" if android_8 else "profile_owner")
        assert_managed(running.device, device_owner=android_8)
        assert [step.outcome for step in result.steps][-1] == "verified"

    @pytest.mark.parametrize(("model", "android"), [PROFILES[1], PROFILES[3]])
    def test_a_second_run_changes_nothing_but_hands_over_again(
        self, host: DeviceHost, signer: PythonRSASigner, model: str, android: str | None
    ) -> None:
        running = fresh(host, model, android)
        assert run(running, signer).status == "provisioned"
        before = state(running)
        again = run(running, signer)
        after = state(running)
        assert again.status == "provisioned"
        outcomes = {step.key: step.outcome for step in again.steps}
        assert outcomes.pop("hand_over_enrolment") == "done"
        assert outcomes.pop("verify") == "verified"
        assert set(outcomes.values()) == {"already"}
        assert len(after.pop("broadcasts")) == len(before.pop("broadcasts")) + 1
        assert after == before

    def test_a_dry_run_reads_and_plans_but_touches_nothing(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        running = fresh(host, "SM-J530F")
        before = state(running)
        result = run(running, signer, dry_run=True)
        assert result.status == "planned" and result.steps == []
        assert result.plan is not None and len(result.plan["steps"]) == 10
        assert state(running) == before

    def test_android_7_with_a_knox_licence_gets_a_device_owner_and_no_work_profile(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        running = fresh(host, "SM-J510FN")
        result = run(running, signer, knox_licensed=True)
        assert (result.status, result.mode) == ("provisioned", "device_owner_knox_workspace")
        assert running.device.device_owner is not None
        assert running.device.managed_profile() is None


class TestRefusals:
    @pytest.mark.parametrize(
        ("scenario", "code"),
        [
            ("google-account", "accounts_present"),
            ("rooted", "warranty_bit_blown"),
            ("secure-folder", "samsung_users_present"),
            ("dual-messenger", "samsung_users_present"),
        ],
    )
    def test_a_device_that_must_not_be_provisioned_is_refused_untouched(
        self, host: DeviceHost, signer: PythonRSASigner, scenario: str, code: str
    ) -> None:
        running = host.add(
            apply(VirtualDevice.create("SM-J530F", android="9", seed=3), scenario),
            accept_new_keys=True,
        )
        before = state(running)
        result = run(running, signer)
        assert result.status == "refused"
        assert [refusal["code"] for refusal in result.refusals] == [code]
        assert result.steps == [] and not result.half_provisioned
        assert state(running) == before

    def test_a_device_another_mdm_owns_is_refused(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        device = VirtualDevice.create("SM-T580", seed=4)
        device.device_owner = Component("com.other.mdm", "com.other.mdm.Receiver")
        running = host.add(device, accept_new_keys=True)
        result = run(running, signer)
        assert result.status == "refused" and "com.other.mdm" in result.message

    def test_the_wrong_model_on_the_cable_is_refused(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        result = run(fresh(host, "SM-T580"), signer, expected_model="SM-J530F")
        assert result.status == "refused" and "expects a SM-J530F" in result.message


class TestFailures:
    def test_an_unauthorised_host_key_asks_for_the_prompt_and_changes_nothing(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        running = host.add(VirtualDevice.create("SM-J530F", seed=5), accept_new_keys=False)
        before = state(running)
        result = run(running, signer, auth_timeout_s=1)
        assert result.status == "failed" and not result.half_provisioned
        assert "accept the USB debugging prompt" in result.message
        assert state(running) == before

    def test_a_dropped_cable_leaves_a_marked_part_provisioned_device_that_resumes(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        running = fresh(host, "SM-J530F", "9")
        host.unplug_after(running, 14)  # facts take 6 services, then the steps begin
        broken = run(running, signer)
        assert broken.status == "failed" and broken.half_provisioned
        failed = broken.steps[-1]
        assert failed.outcome == "failed"
        assert f"device went offline during step {failed.number} ({failed.title})" in (
            broken.message
        )
        assert "run again to resume" in broken.message
        done_before = {step.key for step in broken.steps if step.outcome == "done"}
        assert done_before and running.device.device_owner is not None

        host.replug(running)
        resumed = run(running, signer)
        assert resumed.status == "provisioned", resumed.message
        outcomes = {step.key: step.outcome for step in resumed.steps}
        assert all(outcomes[key] == "already" for key in done_before)
        assert_managed(running.device, device_owner=True)

    def test_missing_apks_refuse_the_device_naming_every_one_and_change_nothing(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        running = fresh(host)
        before = state(running)
        result = run(running, signer, no_agent=True, no_apps=True)
        assert result.status == "refused" and not result.half_provisioned
        assert [refusal["code"] for refusal in result.refusals] == ["apks_missing"]
        assert (
            "the Tabard agent (uk.police.tabard.agent: --apk FILE or the app catalogue)"
            in result.message
        )
        for package in POLICE_APPS:
            assert f"{package}.apk in --apps DIR" in result.message
        assert "tabard virtual-device apks" in result.message
        assert result.steps == [] and state(running) == before

    def test_a_police_app_already_on_the_device_needs_no_apk(
        self, host: DeviceHost, signer: PythonRSASigner
    ) -> None:
        running = host.add(
            apply(VirtualDevice.create("SM-T580", seed=7), "managed"), accept_new_keys=True
        )
        result = run(running, signer, no_agent=True, no_apps=True)
        assert result.status == "provisioned", result.message


def test_usb_without_the_extra_says_how_to_get_it(signer: PythonRSASigner) -> None:
    pytest.importorskip("adb_shell")
    try:
        import usb1  # noqa: F401
    except ImportError:
        with pytest.raises(AdbError, match=r"tabard\[usb\]"):
            AdbConnection.over_usb("0123456789abcdef", signer)
    else:
        pytest.skip("the usb extra is installed here")
