"""Facts parsed from Android 7's outputs, and the plan chosen from them: pure, no device."""

from __future__ import annotations

import dataclasses

import pytest

from provisioning.facts import (
    DeviceFacts,
    User,
    parse_accounts,
    parse_owners,
    parse_packages,
    parse_props,
    parse_users,
)
from provisioning.plan import Mode, Options, choose_mode, make_plan, preconditions

# Outputs as android-adb.md section 3 quotes them.
USERS = "Users:\n\tUserInfo{0:Owner:c13} running\n\tUserInfo{10:Work:30}\n"
# The headers end in a space, as DevicePolicyManagerService prints them.
DEVICE_POLICY = (
    "Current Device Policy Manager state:\n"
    "  Device Owner: \n"
    "    admin=ComponentInfo{com.other.mdm/com.other.mdm.Receiver}\n"
    "    name=\n"
    "    package=com.other.mdm\n"
    "    User ID: 0\n"
    "\n"
    "  Profile Owner (User 10): \n"
    "    admin=ComponentInfo{uk.police.tabard.agent/uk.police.tabard.agent.Admin}\n"
)
ACCOUNTS = """User UserInfo{0:Owner:c13}:
  Accounts: 2
    Account {name=officer@gmail.com, type=com.google}
    Account {name=officer@outlook.com, type=com.microsoft.office}
"""
OWNER = User(0, "Owner", 0xC13, True)
POLICY = {
    "device": {"usb_debugging_allowed": False, "unknown_sources_allowed": False},
    "secure_side": {"allowed_apps": [{"package": "uk.police.pnc.mobile"}]},
    "personal_side": {"blocked_apps": ["com.example.game"]},
}


def given(**changes: object) -> Options:
    """Options for a run given the agent's APK and the police app's."""
    files: dict[str, object] = {"apk": True, "app_files": frozenset({"uk.police.pnc.mobile"})}
    return Options(**{**files, **changes})  # type: ignore[arg-type]


def facts(version: int = 27, **changes: object) -> DeviceFacts:
    versions = {24: "7.0", 25: "7.1.1", 27: "8.1.0", 28: "9", 23: "6.0.1"}
    base = DeviceFacts(
        serial="0123456789abcdef",
        manufacturer="samsung",
        model="SM-T580",
        android_version=versions[version],
        sdk=version,
        security_patch="2018-11-01",
        knox="v30",
        warranty_bit=0,
        users=(OWNER,),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


class TestParsing:
    def test_users_with_flags_and_running_state(self) -> None:
        assert parse_users(USERS) == (User(0, "Owner", 0xC13, True), User(10, "Work", 0x30, False))
        assert parse_users(USERS)[1].managed_profile

    def test_owners_from_dumpsys_device_policy(self) -> None:
        owner, profiles = parse_owners(DEVICE_POLICY)
        assert owner == "com.other.mdm/com.other.mdm.Receiver"
        assert profiles == {10: "uk.police.tabard.agent/uk.police.tabard.agent.Admin"}
        assert parse_owners("Current Device Policy Manager state:\n") == (None, {})

    def test_accounts_as_type_and_name(self) -> None:
        assert parse_accounts(ACCOUNTS) == (
            "com.google:officer@gmail.com",
            "com.microsoft.office:officer@outlook.com",
        )

    def test_props_one_line_each_and_empty_when_unset(self) -> None:
        assert parse_props("SM-T580\n\n27\n", ("a", "b", "c", "d")) == {
            "a": "SM-T580",
            "b": "",
            "c": "27",
            "d": "",
        }

    def test_packages(self) -> None:
        assert parse_packages("package:a.b\npackage:c.d\nnoise\n") == {"a.b", "c.d"}

    def test_samsung_users_are_named(self) -> None:
        kinds = [
            User(i, n, 0x1030, False).samsung_kind
            for i, n in ((95, "DUAL_APP"), (150, "Secure Folder"), (100, "KNOX"), (10, "Work"))
        ]
        assert kinds == ["Dual Messenger", "Secure Folder", "Knox container", None]


class TestMode:
    @pytest.mark.parametrize("sdk", [26, 27, 28])
    def test_android_8_and_later_get_a_device_owner_beside_a_work_profile(self, sdk: int) -> None:
        mode, reason = choose_mode(facts(27, sdk=sdk), Options())
        assert mode is Mode.DEVICE_OWNER_WORK_PROFILE and "8.0" in reason

    @pytest.mark.parametrize("sdk", [24, 25])
    def test_android_7_without_knox_gets_a_profile_owner_only(self, sdk: int) -> None:
        mode, reason = choose_mode(facts(sdk), Options())
        assert mode is Mode.PROFILE_OWNER
        assert "no Knox licence" in reason

    def test_android_7_with_a_knox_licence_gets_a_knox_workspace(self) -> None:
        mode, reason = choose_mode(facts(25), Options(knox_licensed=True))
        assert mode is Mode.DEVICE_OWNER_KNOX_WORKSPACE and "Knox Workspace" in reason

    def test_a_knox_licence_changes_nothing_on_android_8(self) -> None:
        assert (
            choose_mode(facts(27), Options(knox_licensed=True))[0] is Mode.DEVICE_OWNER_WORK_PROFILE
        )


class TestPreconditions:
    def codes(self, facts_: DeviceFacts, options: Options | None = None) -> list[str]:
        return [refusal.code for refusal in preconditions(facts_, options or given())]

    def test_a_factory_fresh_device_passes(self) -> None:
        assert self.codes(facts()) == []

    def test_accounts(self) -> None:
        refusals = preconditions(facts(accounts=("com.google:a@gmail.com",)), given())
        assert [r.code for r in refusals] == ["accounts_present"]
        assert "com.google" in refusals[0].reason and "a@gmail.com" not in refusals[0].reason

    def test_warranty_bit(self) -> None:
        assert self.codes(facts(warranty_bit=1)) == ["warranty_bit_blown"]

    @pytest.mark.parametrize(("user", "name"), [(150, "Secure Folder"), (95, "DUAL_APP")])
    def test_secure_folder_and_dual_messenger(self, user: int, name: str) -> None:
        extra = User(user, name, 0x1030, False)
        refusals = preconditions(facts(users=(OWNER, extra)), given())
        assert [r.code for r in refusals] == ["samsung_users_present"]
        assert ("Secure Folder" if user == 150 else "Dual Messenger") in refusals[0].reason

    def test_another_management_app(self) -> None:
        other = facts(device_owner="com.other.mdm/com.other.mdm.Receiver")
        assert self.codes(other) == ["managed_by_another_app"]

    def test_our_own_owner_is_a_run_to_resume_not_a_refusal(self) -> None:
        ours = facts(device_owner="uk.police.tabard.agent/uk.police.tabard.agent.Admin")
        assert self.codes(ours) == []

    def test_wrong_model_and_old_android(self) -> None:
        assert self.codes(facts(23), given(expected_model="SM-J530F")) == [
            "wrong_model",
            "android_too_old",
        ]

    def test_every_refusal_is_reported_at_once(self) -> None:
        bad = facts(warranty_bit=1, accounts=("com.google:x",))
        assert self.codes(bad) == ["warranty_bit_blown", "accounts_present"]


class TestPlan:
    def keys(self, facts_: DeviceFacts, options: Options) -> list[str]:
        return [step.key for step in make_plan(facts_, options).steps]

    def test_android_8_plan(self) -> None:
        assert self.keys(facts(27), given(apk=True, policy=POLICY)) == [
            "install_agent",
            "set_device_owner",
            "create_work_profile",
            "agent_in_profile",
            "set_profile_owner",
            "start_work_profile",
            "install_work_apps",
            "disable_personal_apps",
            "apply_settings",
            "hand_over_enrolment",
            "verify",
        ]

    def test_android_7_profile_owner_plan_sets_no_device_owner(self) -> None:
        keys = self.keys(facts(25), given(policy=POLICY))
        assert "set_device_owner" not in keys and "set_profile_owner" in keys

    def test_knox_plan_leaves_the_workspace_to_the_agent(self) -> None:
        plan = make_plan(facts(24), given(knox_licensed=True, policy=POLICY))
        keys = [step.key for step in plan.steps]
        assert "set_device_owner" in keys and "create_work_profile" not in keys
        assert any("Knox SDK" in note for note in plan.notes)

    def test_settings_that_would_cut_the_link_are_left_to_the_agent(self) -> None:
        plan = make_plan(facts(27), given(policy=POLICY))
        (settings,) = [s.params["settings"] for s in plan.steps if s.key == "apply_settings"]
        assert [
            "secure",
            "install_non_market_apps",
            "0",
            "device.unknown_sources_allowed",
        ] in settings
        assert not any(key == "adb_enabled" for _, key, _, _ in settings)
        assert any("USB debugging" in note for note in plan.notes)

    def test_a_refused_plan_has_no_steps_and_says_why(self) -> None:
        plan = make_plan(facts(warranty_bit=1), given())
        assert (
            plan.refused
            and plan.steps == ()
            and plan.to_dict()["refusals"][0]["code"] == "warranty_bit_blown"
        )

    def test_steps_are_numbered_in_order_and_the_plan_is_plain_data(self) -> None:
        plan = make_plan(facts(27), given(policy=POLICY))
        assert [step.number for step in plan.steps] == list(range(1, len(plan.steps) + 1))
        import json

        assert json.loads(json.dumps(plan.to_dict()))["mode"] == "device_owner_work_profile"


class TestMissingApks:
    def test_every_missing_file_is_named_in_one_refusal(self) -> None:
        policy = {
            "secure_side": {
                "allowed_apps": [{"package": "uk.police.pnc.mobile"}, {"package": "uk.police.gate"}]
            }
        }
        refusals = preconditions(facts(27), Options(policy=policy))
        assert [r.code for r in refusals] == ["apks_missing"]
        reason = refusals[0].reason
        assert (
            "the Tabard agent (uk.police.tabard.agent: --apk FILE or the app catalogue)" in reason
        )
        assert "uk.police.pnc.mobile.apk in --apps DIR" in reason
        assert "uk.police.gate.apk in --apps DIR" in reason
        assert "tabard virtual-device apks --out DIR" in reason

    def test_apps_already_on_the_device_and_an_installed_agent_need_no_file(self) -> None:
        on_device = facts(
            27,
            packages=("uk.police.pnc.mobile", "uk.police.tabard.agent"),
            personal_packages=("uk.police.tabard.agent",),
        )
        assert preconditions(on_device, Options(policy=POLICY)) == []

    def test_a_knox_workspace_s_apps_are_the_agent_s_to_install(self) -> None:
        assert preconditions(facts(25), Options(apk=True, knox_licensed=True, policy=POLICY)) == []

    def test_the_refused_plan_has_no_steps(self) -> None:
        plan = make_plan(facts(27), Options(policy=POLICY))
        assert plan.refused and plan.steps == ()


class TestEnrolmentSteps:
    def keys(self, options: Options) -> list[str]:
        return [step.key for step in make_plan(facts(27), options).steps][-5:]

    def test_after_the_hand_over_the_agent_enrols_is_assigned_and_checks_in(self) -> None:
        plan = make_plan(facts(27), given(enrol=True, officer="C1234", group="response"))
        tail = [(step.key, step.title) for step in plan.steps][-5:]
        assert tail == [
            ("hand_over_enrolment", "Hand the enrolment payload to the agent"),
            ("enrol_agent", "Wait for the agent to enrol"),
            ("assign", "Assign it to officer C1234 and group response"),
            ("first_checkin", "Wait for the first check-in"),
            ("verify", "Read the end state back"),
        ]

    def test_with_agents_this_host_runs_each_one_in_a_directory_named_by_serial(self) -> None:
        plan = make_plan(facts(27), given(enrol=True, agents="agents/"))
        (enrol,) = [step for step in plan.steps if step.key == "enrol_agent"]
        assert enrol.title == "Enrol the agent (its state in agents/0123456789abcdef)"
        assert enrol.params == {"agent": "agents/0123456789abcdef", "serial": "0123456789abcdef"}
        assert "assign" not in [step.key for step in plan.steps]

    def test_without_a_server_there_are_none(self) -> None:
        assert "enrol_agent" not in self.keys(given())


def test_the_policy_engine_knows_the_agent_provisioning_installs() -> None:
    """Compliance never counts the agent as an unapproved work app: both name it alike."""
    from device_agent.handover import AGENT_PACKAGE
    from policies.checks import AGENT_PACKAGE as ALLOWED_WITHOUT_LISTING

    assert ALLOWED_WITHOUT_LISTING == AGENT_PACKAGE
