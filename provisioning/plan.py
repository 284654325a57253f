"""The provisioning plan: which management mode a device can take, why, whether anything on it
forbids provisioning, and the steps that will get it there. Pure data from the device's facts
and the run's options; nothing here touches a device (`--dry-run` prints exactly this).

Capability (DESIGN.md "Android reality"; android-adb.md section 4): a work profile beside a
device owner (COMP) needs Android 8.0. On 7.x the choice is a device owner with a Knox
Workspace, where Knox is licensed, or a profile-owner-only work profile."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from device_agent.handover import AGENT_PACKAGE
from device_agent.platform.requirements import requirements
from provisioning.facts import DeviceFacts

MIN_SDK = 24  # Android 7.0: the oldest build the fleet runs
COMP_SDK = 26  # Android 8.0
PROFILE_NAME = "Tabard secure side"
# Turning these off over ADB would cut the link provisioning runs on; the agent turns them
# off when it first applies policy.
LEFT_TO_THE_AGENT = ("device.usb_debugging_allowed", "device.developer_options_allowed")
# Set on every device whatever the policy says: apps from outside the store are checked.
BASELINE_SETTINGS = (("global", "package_verifier_enable", "1", "baseline"),)


class Mode(StrEnum):
    DEVICE_OWNER_WORK_PROFILE = "device_owner_work_profile"
    DEVICE_OWNER_KNOX_WORKSPACE = "device_owner_knox_workspace"
    PROFILE_OWNER = "profile_owner"


@dataclass(frozen=True)
class Options:
    """What the run was given, beyond the device itself."""

    apk: bool = False  # an agent APK to install (`--apk`)
    app_files: frozenset[str] = frozenset()  # packages whose APKs were given (`--apps`)
    knox_licensed: bool = False  # a Knox licence the agent can activate (`--knox-licensed`)
    policy: dict[str, Any] | None = None  # the policy document the baseline comes from
    expected_model: str | None = None  # the manifest's expected model
    officer: str | None = None
    group: str | None = None
    enrol: bool = False  # see the agent enrol, assign the device and see it check in
    agents: str | None = None  # where this host keeps each device's agent (`--agents DIR`)


@dataclass(frozen=True)
class Refusal:
    """A reason not to touch the device, and what to do about it."""

    code: str
    reason: str


@dataclass(frozen=True)
class Step:
    number: int
    key: str
    title: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    serial: str
    model: str
    android_version: str
    mode: Mode | None
    reason: str
    refusals: tuple[Refusal, ...]
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mode"] = self.mode.value if self.mode else None
        return data


def choose_mode(facts: DeviceFacts, options: Options) -> tuple[Mode, str]:
    """The management mode for this device, and the reason for it."""
    if facts.sdk >= COMP_SDK:
        return Mode.DEVICE_OWNER_WORK_PROFILE, (
            f"Android {facts.android_version} (SDK {facts.sdk}) allows a work profile beside a "
            "device owner (8.0 and later): the agent owns the device and the secure side"
        )
    if options.knox_licensed:
        return Mode.DEVICE_OWNER_KNOX_WORKSPACE, (
            f"Android {facts.android_version} cannot have a work profile beside a device owner "
            "(that needs 8.0); Knox is licensed, so the agent owns the device and keeps the "
            "secure side in a Knox Workspace"
        )
    return Mode.PROFILE_OWNER, (
        f"Android {facts.android_version} cannot have a work profile beside a device owner "
        "(that needs 8.0) and no Knox licence was given: the agent owns the work profile only; "
        "device-wide settings it cannot enforce are reported incompatible, with their "
        "compensating controls"
    )


def _owned_by_us(component: str | None) -> bool:
    return component is not None and component.split("/", 1)[0] == AGENT_PACKAGE


def preconditions(facts: DeviceFacts, options: Options) -> list[Refusal]:
    """Everything on the device that forbids provisioning it, each with its reason."""
    refusals = []
    if options.expected_model and facts.model != options.expected_model:
        refusals.append(
            Refusal(
                "wrong_model",
                f"the manifest expects a {options.expected_model} but this is a {facts.model}: "
                "check the cable or the manifest row",
            )
        )
    if facts.sdk < MIN_SDK:
        refusals.append(
            Refusal(
                "android_too_old",
                f"Android {facts.android_version} (SDK {facts.sdk}) is older than 7.0: update it "
                "first",
            )
        )
    if facts.warranty_bit:
        refusals.append(
            Refusal(
                "warranty_bit_blown",
                "the Knox warranty bit is 1: the device has been rooted or flashed with an "
                "unofficial image and cannot hold police data; return it to the supplier",
            )
        )
    if facts.accounts:
        kinds = ", ".join(sorted({account.split(":", 1)[0] for account in facts.accounts}))
        refusals.append(
            Refusal(
                "accounts_present",
                f"{len(facts.accounts)} account(s) signed in ({kinds}): Android refuses a device "
                "owner once an account exists, and a police device starts clean; remove them "
                "in Settings > Accounts, or factory-reset the device",
            )
        )
    samsung = sorted({kind for user in facts.users if (kind := user.samsung_kind)})
    if samsung:
        refusals.append(
            Refusal(
                "samsung_users_present",
                f"{' and '.join(samsung)} set up on the device: their extra users block a "
                "device owner and would keep data beside the secure side; remove them in "
                "Settings, or factory-reset the device",
            )
        )
    others = [
        owner
        for owner in (facts.device_owner, *facts.profile_owners.values())
        if owner is not None and not _owned_by_us(owner)
    ]
    if others:
        refusals.append(
            Refusal(
                "managed_by_another_app",
                f"{others[0].split('/', 1)[0]} already manages this device: remove it through "
                "its own console, or factory-reset the device",
            )
        )
    missing = missing_apks(facts, options)
    if missing:
        refusals.append(
            Refusal(
                "apks_missing",
                f"these apps are not on the device and their APKs were not given: "
                f"{', '.join(missing)}; for virtual devices, `tabard virtual-device apks "
                "--out DIR` makes them (docs/virtual-devices.md)",
            )
        )
    return refusals


def missing_apks(facts: DeviceFacts, options: Options) -> list[str]:
    """The files the run would need for this device and was not given, each as the option
    that gives it: the agent (`--apk FILE`, or the server's app catalogue), and every police
    app neither on the device nor in `--apps DIR` (or the catalogue). The Knox Workspace's
    apps are the agent's to install, not the shell's."""
    missing = []
    if not options.apk and AGENT_PACKAGE not in facts.personal_packages:
        missing.append(f"the Tabard agent ({AGENT_PACKAGE}: --apk FILE or the app catalogue)")
    if choose_mode(facts, options)[0] is not Mode.DEVICE_OWNER_KNOX_WORKSPACE:
        _, _, work = _baseline(options.policy)
        on_device = set(facts.packages) | options.app_files
        missing += [
            f"{package}.apk in --apps DIR or the app catalogue"
            for package in work
            if package not in on_device
        ]
    return missing


def _baseline(policy: dict[str, Any] | None) -> tuple[list[list[str]], list[str], list[str]]:
    """Settings to put, personal-side apps to disable and secure-side apps to install."""
    settings = [list(item) for item in BASELINE_SETTINGS]
    blocked, work = [], []
    for wanted in requirements(policy or {}):
        if wanted.kind == "setting" and wanted.path not in LEFT_TO_THE_AGENT:
            namespace, key = wanted.name.split("/")
            settings.append([namespace, key, str(wanted.value), wanted.path])
        elif wanted.kind == "disable_app":
            blocked.append(wanted.name)
        elif wanted.kind == "work_app":
            work.append(wanted.name)
    return settings, blocked, work


def make_plan(facts: DeviceFacts, options: Options) -> Plan:
    """The plan for one device: refused with reasons, or the steps in order."""
    mode, reason = choose_mode(facts, options)
    refusals = tuple(preconditions(facts, options))
    settings, blocked, work = _baseline(options.policy)
    titles: list[tuple[str, str, dict[str, Any]]] = [
        (
            "install_agent",
            "Install the Tabard agent" if options.apk else "Check the Tabard agent is installed",
            {"apk": options.apk},
        )
    ]
    if mode is not Mode.PROFILE_OWNER:
        titles.append(("set_device_owner", "Make the agent the device owner", {}))
    if mode is not Mode.DEVICE_OWNER_KNOX_WORKSPACE:
        titles += [
            ("create_work_profile", f"Create the work profile ({PROFILE_NAME})", {}),
            ("agent_in_profile", "Install the agent in the work profile", {}),
            ("set_profile_owner", "Make the agent the work profile's owner", {}),
            ("start_work_profile", "Start the work profile", {}),
        ]
        if work:
            titles.append(("install_work_apps", "Install the police apps", {"packages": work}))
    if blocked:
        titles.append(
            ("disable_personal_apps", "Disable blocked personal apps", {"packages": blocked})
        )
    titles += [
        ("apply_settings", "Apply the baseline settings", {"settings": settings}),
        (
            "hand_over_enrolment",
            "Hand the enrolment payload to the agent",
            {"officer": options.officer, "group": options.group},
        ),
        *_enrolment_steps(facts, options),
        ("verify", "Read the end state back", {}),
    ]
    steps = tuple(
        Step(number, key, title, params)
        for number, (key, title, params) in enumerate(titles, start=1)
    )
    return Plan(
        serial=facts.serial,
        model=facts.model,
        android_version=facts.android_version,
        mode=mode,
        reason=reason,
        refusals=refusals,
        steps=() if refusals else steps,
        notes=_notes(mode, options),
    )


def _enrolment_steps(facts: DeviceFacts, options: Options) -> list[tuple[str, str, dict[str, Any]]]:
    """After the hand-over: the agent enrols (this host runs it, with `--agents DIR`; otherwise
    the agent on the device does, and the run waits for it), the device is assigned to the
    manifest's officer and group, and it checks in."""
    if not options.enrol:
        return []
    agent = f"{options.agents.rstrip('/')}/{facts.serial}" if options.agents else None
    steps: list[tuple[str, str, dict[str, Any]]] = [
        (
            "enrol_agent",
            f"Enrol the agent (its state in {agent})" if agent else "Wait for the agent to enrol",
            {"agent": agent, "serial": facts.serial},
        )
    ]
    if options.officer or options.group:
        whom = " and ".join(
            part
            for part in (
                f"officer {options.officer}" if options.officer else "",
                f"group {options.group}" if options.group else "",
            )
            if part
        )
        steps.append(
            (
                "assign",
                f"Assign it to {whom}",
                {"officer": options.officer, "group": options.group, "serial": facts.serial},
            )
        )
    steps.append(
        (
            "first_checkin",
            "Check in" if agent else "Wait for the first check-in",
            {"agent": agent, "serial": facts.serial},
        )
    )
    return steps


def _notes(mode: Mode, options: Options) -> tuple[str, ...]:
    notes = []
    if options.policy is None:
        notes.append("no --policy given: no police apps, blocked apps or policy settings")
    elif any(wanted.path in LEFT_TO_THE_AGENT for wanted in requirements(options.policy)):
        notes.append(
            "USB debugging and developer options stay on until the agent applies policy: "
            "turning them off over ADB would cut this link"
        )
    if mode is Mode.DEVICE_OWNER_KNOX_WORKSPACE:
        notes.append(
            "the agent creates the Knox Workspace and installs the police apps into it through "
            "the Knox SDK once enrolled; the ADB shell cannot"
        )
    return tuple(notes)
