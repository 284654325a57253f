"""Provisioning one device: connect, read its facts, plan, check the preconditions, carry out
each step, and read the end state back. Whatever happens, the result says how far it got;
a device left part-way is marked so, and running again resumes it."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from device_agent.errors import AgentError
from provisioning import enrolling
from provisioning.facts import Shell, read_facts
from provisioning.fleet import Enrolling
from provisioning.plan import Options, Plan, Step, make_plan
from provisioning.steps import STEPS, Check, Inputs, StepError, Work, never

Status = Literal["pending", "in_progress", "provisioned", "refused", "failed", "planned", "skipped"]
Outcome = Literal["done", "already", "verified", "failed"]


@dataclass
class StepResult:
    number: int
    key: str
    title: str
    outcome: Outcome
    message: str = ""
    ms: int = 0


@dataclass
class DeviceResult:
    """How one device's run ended; one row of the report."""

    key: str  # the manifest's target (HOST:PORT) or usb:SERIAL
    officer: str | None = None
    group: str | None = None
    expected_model: str | None = None
    status: Status = "in_progress"
    serial: str | None = None
    model: str | None = None
    android_version: str | None = None
    mode: str | None = None
    reason: str = ""
    message: str = ""
    half_provisioned: bool = False
    refusals: list[dict[str, str]] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    plan: dict[str, Any] | None = None
    started_at: str | None = None
    finished_at: str | None = None
    ms: int = 0
    device_id: str | None = None  # the server's, once the agent has enrolled

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeviceResult:
        steps = [StepResult(**step) for step in data.get("steps", [])]
        return cls(**{**data, "steps": steps})

    @property
    def changed_anything(self) -> bool:
        return any(step.outcome == "done" for step in self.steps)


Listener = Callable[[str, DeviceResult, StepResult | None], None]
REGISTRY = {
    **STEPS,
    "enrol_agent": (enrolling.agent_enrolled, enrolling.enrol_agent),
    "assign": (enrolling.assigned, enrolling.assign),
    "first_checkin": (enrolling.checked_in, enrolling.check_in),
}
Connect = Callable[[], AbstractContextManager[Shell]]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _ms(since: float) -> int:
    return int((time.monotonic() - since) * 1000)


def provision(
    result: DeviceResult,
    *,
    connect: Connect,
    inputs: Inputs,
    options: Options,
    dry_run: bool = False,
    listener: Listener | None = None,
    target: str | None = None,
    enrolment: Enrolling | None = None,
) -> DeviceResult:
    """Provision the device `connect()` reaches, filling in `result` as it goes. `target` is
    its HOST:PORT for an agent run from this host; `enrolment` sees the agent enrol."""
    notify = listener or (lambda kind, res, step: None)
    started = time.monotonic()
    result.started_at, result.status = _now(), "in_progress"
    result.steps, result.refusals, result.message = [], [], ""
    try:
        with connect() as shell:
            facts = read_facts(shell)
            work = Work(shell, inputs, target=target, enrolling=enrolment)
            plan = make_plan(facts, options)
            if not plan.refused:
                plan = enrolling.admit(plan, work)
            _describe(result, plan)
            notify("device_started", result, None)
            if plan.refused:
                result.status = "refused"
                result.message = "; ".join(refusal.reason for refusal in plan.refusals)
            elif dry_run:
                result.status, result.message = "planned", f"{len(plan.steps)} steps planned"
            else:
                _carry_out(result, plan, work, notify)
    except AgentError as exc:  # the link: refused, unauthorised, dropped
        result.status = "failed"
        result.message = _where(result, str(exc))
    result.half_provisioned = result.status == "failed" and result.changed_anything
    if result.half_provisioned:
        result.message += "; the device is part-provisioned: run again to resume"
    result.finished_at, result.ms = _now(), _ms(started)
    notify("device_finished", result, None)
    return result


def _describe(result: DeviceResult, plan: Plan) -> None:
    result.serial, result.model = plan.serial, plan.model
    result.android_version = plan.android_version
    result.mode = plan.mode.value if plan.mode else None
    result.reason = plan.reason
    result.refusals = [{"code": r.code, "reason": r.reason} for r in plan.refusals]
    result.plan = plan.to_dict()


def _where(result: DeviceResult, message: str) -> str:
    """Where in the plan the link failed: the first step not finished, if the plan began."""
    if result.plan is None:
        return message
    finished = {step.number for step in result.steps if step.outcome != "failed"}
    for step in result.plan["steps"]:
        if step["number"] not in finished:
            return f"device went offline during step {step['number']} ({step['title']}): {message}"
    return message


def _carry_out(result: DeviceResult, plan: Plan, work: Work, notify: Listener) -> None:
    for step in plan.steps:
        started = time.monotonic()
        try:
            outcome = _run_step(work, step, plan)
            done = StepResult(step.number, step.key, step.title, outcome, ms=_ms(started))
        except StepError as exc:
            done = StepResult(step.number, step.key, step.title, "failed", str(exc), _ms(started))
        except AgentError as exc:
            done = StepResult(step.number, step.key, step.title, "failed", str(exc), _ms(started))
            result.steps.append(done)
            notify("step", result, done)
            raise
        result.steps.append(done)
        result.device_id = work.device_id or result.device_id
        notify("step", result, done)
        if done.outcome == "failed":
            result.status = "failed"
            result.message = f"step {step.number} ({step.title}) failed: {done.message}"
            return
    result.status = "provisioned"
    result.message = _done(plan, result)


def _done(plan: Plan, result: DeviceResult) -> str:
    """What a provisioned device has become, in a few words."""
    keys = {step.key: step for step in plan.steps}
    if "enrol_agent" not in keys:
        return f"{plan.mode.value if plan.mode else ''} ready for enrolment"
    said = [f"enrolled as device {(result.device_id or '')[:8]}"]
    if "assign" in keys:
        params = keys["assign"].params
        said += [f"officer {params['officer']}"] if params["officer"] else []
        said += [f"group {params['group']}"] if params["group"] else []
    return ", ".join([*said, "checked in"])


def _run_step(work: Work, step: Step, plan: Plan) -> Outcome:
    if step.key == "verify":
        wrong = verify(work, plan.steps)
        if wrong:
            raise StepError("read back, these do not hold: " + "; ".join(wrong))
        return "verified"
    check, action = REGISTRY[step.key]
    if check(work, step):
        return "already"
    action(work, step)
    if check is not never and not check(work, step):
        raise StepError("the device reported success, but reading it back shows it not done")
    return "done"


def verify(work: Work, steps: tuple[Step, ...]) -> list[str]:
    """Every earlier step's check, read back: the titles of those that fail."""
    checks: dict[str, Check] = {key: check for key, (check, _) in REGISTRY.items()}
    return [
        step.title
        for step in steps
        if step.key in checks and checks[step.key] is not never and not checks[step.key](work, step)
    ]
