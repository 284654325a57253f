"""After the hand-over: the agent enrols, the device is assigned to the manifest's officer and
group, and it checks in. Each step asks the server (through IT's session) whether it is
already so, like every other step.

Who runs the agent: on a phone, the Tabard agent app enrols from the payload handed to it,
and the run waits for it to appear on the server. With `--agents DIR`, this host runs the
agent for each device (`tabard agent --state DIR/SERIAL`, on the device's `adb:` platform):
how a virtual device gets one. That agent uses this host's ADB key, which the device has
already allowed, so the device asks nothing again."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from device_agent.adb import KEY_FILE, parse_target
from device_agent.errors import AgentError, ServerError
from device_agent.payload import EnrolmentPayload
from device_agent.state import AgentState
from provisioning.fleet import Enrolling, FleetDevice, FleetError
from provisioning.plan import Plan, Refusal, Step
from provisioning.steps import StepError, Work


def admit(plan: Plan, work: Work) -> Plan:
    """The plan, refused if the device could not end enrolled: what would stop its agent
    enrolling is found before anything on it changes, as a dry run shows."""
    step = next((step for step in plan.steps if step.key == "enrol_agent"), None)
    if step is None:
        return plan
    try:
        refusal = _enrolment_refusal(work, step)
    except StepError as exc:
        refusal = Refusal("server_unavailable", f"could not ask the server about it: {exc}")
    if refusal is None:
        return plan
    return dataclasses.replace(plan, refusals=(*plan.refusals, refusal), steps=())


def _enrolment_refusal(work: Work, step: Step) -> Refusal | None:
    device, state = _on_server(work, step), _agent(step)
    held = state.enrolment().device_id if state is not None and state.is_enrolled else None
    if device is not None:
        if state is None or held == device.id:
            return None
        return Refusal(
            "enrolled_elsewhere",
            f"the server has this device enrolled already (device {device.id[:8]}), but "
            f"{state.directory} holds no agent for it: give the --agents directory that does, "
            "or retire the device first (`tabard devices retire`)",
        )
    if held is not None:
        assert state is not None
        return Refusal(
            "agent_directory_taken",
            f"{state.directory} holds device {held[:8]}, which the server does not show as this "
            "device: move that directory aside",
        )
    problem = _enrolling(work).tokens.take()
    return Refusal("token_unusable", problem) if problem else None


def _enrolling(work: Work) -> Enrolling:
    if work.enrolling is None:
        raise StepError("this run has no server session to see the agent enrol")
    return work.enrolling


def _on_server(work: Work, step: Step) -> FleetDevice | None:
    try:
        device = _enrolling(work).fleet.device(step.params["serial"])
    except FleetError as exc:
        raise StepError(str(exc)) from None
    if device is not None:
        work.device_id = device.id
    return device


def _wait(work: Work, step: Step, until: Callable[[], bool], what: str) -> None:
    enrolling = _enrolling(work)
    deadline = time.monotonic() + enrolling.wait_s
    while not until():
        if time.monotonic() >= deadline:
            raise StepError(
                f"{what} within {enrolling.wait_s:.0f} s: check the device is online and the "
                "agent app is running, then run again; a virtual device has no agent of its "
                "own: give --agents DIR (docs/provisioning.md)"
            )
        time.sleep(enrolling.poll_s)


def _agent(step: Step) -> AgentState | None:
    agent = step.params.get("agent")
    return AgentState(Path(agent)) if agent else None


def agent_enrolled(work: Work, step: Step) -> bool:
    device = _on_server(work, step)
    state = _agent(step)
    if device is None or state is None:
        return device is not None
    return state.is_enrolled and state.enrolment().device_id == device.id


def enrol_agent(work: Work, step: Step) -> None:
    state = _agent(step)
    if state is None:
        _wait(work, step, lambda: _on_server(work, step) is not None, "the agent did not enrol")
        return
    if state.is_enrolled:
        raise StepError(
            f"{state.directory} holds device {state.enrolment().device_id}, which the server "
            "does not show as this device: move that directory aside and run again"
        )
    if work.target is None:
        raise StepError("--agents runs an agent over ADB on TCP; this device is on USB")
    from device_agent.enrolment import enrol
    from device_agent.platform.adb import AdbPlatform

    host, port = parse_target(work.target)
    _share_host_key(_enrolling(work).host_keys, state)
    platform = AdbPlatform(host, port, state.directory)
    try:
        record = asyncio.run(
            enrol(EnrolmentPayload.parse(work.inputs.payload), state=state, platform=platform)
        )
    except ServerError as exc:
        raise StepError(f"the server refused the enrolment: {_words(exc.detail)}") from None
    except AgentError as exc:
        raise StepError(f"the agent could not enrol: {exc}") from None
    work.device_id = record.device_id


def _share_host_key(host_keys: Path, state: AgentState) -> None:
    """The agent's ADB key is this host's, which the device already allowed."""
    names = (KEY_FILE, f"{KEY_FILE}.pub")
    if not all((host_keys / name).exists() for name in names):
        raise StepError(f"no ADB key in {host_keys} to give the agent")
    for name in names:
        if not state.path(name).exists():
            state.write(name, (host_keys / name).read_bytes())


def assigned(work: Work, step: Step) -> bool:
    device = _on_server(work, step)
    if device is None:
        return False
    officer, group = step.params["officer"], step.params["group"]
    return (officer is None or device.officer == officer) and (
        group is None or device.group == group
    )


def assign(work: Work, step: Step) -> None:
    device = _on_server(work, step)
    if device is None:
        raise StepError("the device is not enrolled (step 'Enrol the agent' not done)")
    try:
        _enrolling(work).fleet.assign(
            device.id, officer=step.params["officer"], group=step.params["group"]
        )
    except FleetError as exc:
        raise StepError(str(exc)) from None


def checked_in(work: Work, step: Step) -> bool:
    device = _on_server(work, step)
    return device is not None and device.last_seen_at is not None


def check_in(work: Work, step: Step) -> None:
    state = _agent(step)
    if state is None:
        _wait(work, step, lambda: checked_in(work, step), "the agent did not check in")
        return
    from device_agent.checkin import check_in as send_posture

    try:
        asyncio.run(send_posture(state=state))
    except ServerError as exc:
        raise StepError(f"the server refused the check-in: {_words(exc.detail)}") from None
    except AgentError as exc:
        raise StepError(f"the agent could not check in: {exc}") from None


def _words(detail: object) -> str:
    from tabard.output import describe_detail

    return describe_detail(detail)
