"""Carrying out a plan's steps on a device. Each step has a check (is it already so?) and an
action; a step whose check holds is not done again, and after its action the check must hold.
So every step is safe to re-run, and a run that stopped half-way picks up where it stopped.

Outputs are judged by their text, as Android 7 prints them (android-adb.md section 3)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from device_agent.handover import ADMIN_RECEIVER, AGENT_PACKAGE, Handover, broadcast_command
from device_agent.shell_output import parse_packages, parse_users, work_profile
from provisioning.facts import Shell, parse_owners
from provisioning.plan import PROFILE_NAME, Step

if TYPE_CHECKING:
    from provisioning.fleet import Enrolling

STAGING = "/data/local/tmp"


class StepError(Exception):
    """The step could not be done; the message says why, in the device's words."""


@dataclass
class Inputs:
    """What a run hands to devices: the enrolment payload and the APKs."""

    payload: str  # the QR payload's JSON text
    agent_apk: bytes | None = None
    app_apks: dict[str, bytes] = field(default_factory=dict)  # package -> APK


@dataclass
class Work:
    """One device being provisioned: its connection and what the steps learn on the way."""

    shell: Shell
    inputs: Inputs
    profile: int | None = None
    target: str | None = None  # HOST:PORT, for an agent this host runs over ADB
    enrolling: Enrolling | None = None  # the server, to see the agent enrol and assign it
    device_id: str | None = None  # the server's id for the device, once it has enrolled

    def packages(self, user: int, *flags: str) -> set[str]:
        return parse_packages(self.shell.shell(f"pm list packages {' '.join(flags)} --user {user}"))

    def work_profile(self) -> int | None:
        found = work_profile(parse_users(self.shell.shell("pm list users")))
        if found is None:
            return None
        self.profile = found.id
        return found.id

    def require_profile(self) -> int:
        profile = self.profile if self.profile is not None else self.work_profile()
        if profile is None:
            raise StepError("there is no work profile (step 'Create the work profile' not done)")
        return profile

    def owners(self) -> tuple[str | None, dict[int, str]]:
        return parse_owners(self.shell.shell("dumpsys device_policy"))

    def expect(self, command: str, success: str) -> str:
        """Run `command`; its output must contain `success`."""
        output, _ = self.shell.run(command)
        if success not in output:
            raise StepError(f"`{_short(command)}` answered: {_gist(output)}")
        return output


def _short(command: str) -> str:
    return " ".join(command.split()[:3])


def _gist(output: str) -> str:
    """The line of an Android tool's output that says what went wrong."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if any(mark in line for mark in ("Exception:", "Error:", "Failure", "failed")):
            return line
    return lines[0] if lines else "(nothing)"


def _ours(component: str | None) -> bool:
    return component is not None and component.split("/", 1)[0] == AGENT_PACKAGE


# --- the steps: (check, action) ------------------------------------------------------------


def agent_installed(work: Work, step: Step) -> bool:
    return AGENT_PACKAGE in work.packages(0)


def install_agent(work: Work, step: Step) -> None:
    if work.inputs.agent_apk is None:
        raise StepError("the Tabard agent is not on the device: give its APK with --apk FILE")
    _install_apk(work, work.inputs.agent_apk, "tabard-agent.apk", user=0)


def _install_apk(work: Work, apk: bytes, name: str, *, user: int) -> None:
    path = f"{STAGING}/{name}"
    work.shell.push(apk, path)
    try:
        work.expect(f"pm install -r --user {user} {path}", "Success")
    finally:
        work.shell.run(f"rm -f {path}")


def device_owner_set(work: Work, step: Step) -> bool:
    return _ours(work.owners()[0])


def set_device_owner(work: Work, step: Step) -> None:
    work.expect(f"dpm set-device-owner --name Tabard {ADMIN_RECEIVER}", "Success")


def work_profile_exists(work: Work, step: Step) -> bool:
    return work.work_profile() is not None


def create_work_profile(work: Work, step: Step) -> None:
    output = work.expect(
        f"pm create-user --profileOf 0 --managed {shlex.quote(PROFILE_NAME)}", "Success"
    )
    work.profile = int(output.rsplit("id", 1)[-1].strip().split()[0])


def agent_in_profile(work: Work, step: Step) -> bool:
    return AGENT_PACKAGE in work.packages(work.require_profile())


def install_agent_in_profile(work: Work, step: Step) -> None:
    profile = work.require_profile()
    work.expect(f"pm install-existing --user {profile} {AGENT_PACKAGE}", "installed for user")


def profile_owner_set(work: Work, step: Step) -> bool:
    return _ours(work.owners()[1].get(work.require_profile()))


def set_profile_owner(work: Work, step: Step) -> None:
    profile = work.require_profile()
    work.expect(f"dpm set-profile-owner --user {profile} {ADMIN_RECEIVER}", "Success")


def profile_running(work: Work, step: Step) -> bool:
    profile = work.require_profile()
    users = parse_users(work.shell.shell("pm list users"))
    return any(user.id == profile and user.running for user in users)


def start_profile(work: Work, step: Step) -> None:
    work.expect(f"am start-user {work.require_profile()}", "Success")


def work_apps_installed(work: Work, step: Step) -> bool:
    return set(step.params["packages"]) <= work.packages(work.require_profile())


def install_work_apps(work: Work, step: Step) -> None:
    profile = work.require_profile()
    missing = sorted(set(step.params["packages"]) - work.packages(profile))
    on_device = parse_packages(work.shell.shell("pm list packages -u"))
    for package in missing:
        if package in on_device:
            work.expect(f"pm install-existing --user {profile} {package}", "installed for user")
        elif package in work.inputs.app_apks:
            _install_apk(work, work.inputs.app_apks[package], f"{package}.apk", user=profile)
        else:
            raise StepError(
                f"{package} is neither on the device nor among the APKs given (--apps DIR "
                f"with {package}.apk)"
            )


def personal_apps_disabled(work: Work, step: Step) -> bool:
    enabled = work.packages(0, "-e")
    return not set(step.params["packages"]) & enabled


def disable_personal_apps(work: Work, step: Step) -> None:
    for package in sorted(set(step.params["packages"]) & work.packages(0, "-e")):
        work.expect(f"pm disable-user --user 0 {package}", "new state: disabled")


def settings_applied(work: Work, step: Step) -> bool:
    wanted = step.params["settings"]
    output = work.shell.shell("; ".join(f"settings get {ns} {key}" for ns, key, _, _ in wanted))
    values = [line.strip() for line in output.splitlines()]
    return values == [value for _, _, value, _ in wanted]


def apply_settings(work: Work, step: Step) -> None:
    for namespace, key, value, _ in step.params["settings"]:
        work.shell.run(f"settings put {namespace} {key} {shlex.quote(value)}")


def never(work: Work, step: Step) -> bool:
    """A step whose effect the shell cannot observe: it is done on every run."""
    return False


def hand_over_enrolment(work: Work, step: Step) -> None:
    handover = Handover(
        payload=work.inputs.payload, officer=step.params["officer"], group=step.params["group"]
    )
    work.expect(broadcast_command(handover), "Broadcast completed")


Check = Callable[[Work, Step], bool]
Action = Callable[[Work, Step], None]
STEPS: dict[str, tuple[Check, Action]] = {
    "install_agent": (agent_installed, install_agent),
    "set_device_owner": (device_owner_set, set_device_owner),
    "create_work_profile": (work_profile_exists, create_work_profile),
    "agent_in_profile": (agent_in_profile, install_agent_in_profile),
    "set_profile_owner": (profile_owner_set, set_profile_owner),
    "start_work_profile": (profile_running, start_profile),
    "install_work_apps": (work_apps_installed, install_work_apps),
    "disable_personal_apps": (personal_apps_disabled, disable_personal_apps),
    "apply_settings": (settings_applied, apply_settings),
    "hand_over_enrolment": (never, hand_over_enrolment),
}
