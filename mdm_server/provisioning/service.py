"""Putting provisioning events on the audit record, and checking a run before it starts."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.auth.roles import Role
from mdm_server.enrolment.service import usable_token
from mdm_server.errors import TabardError
from mdm_server.provisioning import repository
from mdm_server.provisioning.schemas import (
    CheckProblem,
    ProvisioningCheck,
    ProvisioningCheckResult,
    ProvisioningEvent,
)


def record_events(
    session: Session, *, events: list[ProvisioningEvent], actor: Actor, now: datetime
) -> int:
    """One audit event per provisioning event, `provisioning.<kind>`, with the device serial."""
    for event in events:
        detail = event.model_dump(mode="json", exclude_none=True, exclude={"kind"})
        record(
            session,
            actor=actor,
            action=f"provisioning.{event.kind}",
            now=now,
            target_type="device_serial" if event.serial else None,
            target_id=event.serial,
            detail=detail,
        )
    return len(events)


def check_run(
    session: Session, *, check: ProvisioningCheck, now: datetime
) -> ProvisioningCheckResult:
    """Everything in a run's manifest and payload the server would refuse: unknown or disabled
    officers, groups no token, device or policy names, and a token that cannot enrol the
    run's devices. Changes nothing."""
    problems = _officer_problems(session, check.officers) + _group_problems(session, check.groups)
    result = ProvisioningCheckResult(problems=problems)
    if check.token is None:
        return result
    try:
        token = usable_token(session, check.token, now=now)
    except TabardError as exc:
        result.problems.append(CheckProblem(field="token", value=None, problem=str(exc)))
        return result
    result.token_group = token.group_name
    result.token_uses_left = token.uses_allowed - token.uses_count
    if result.token_uses_left < check.devices:
        result.problems.append(
            CheckProblem(
                field="token",
                value=None,
                problem=f"the enrolment token has {result.token_uses_left} use(s) left for "
                f"{check.devices} device(s); make one with --uses {check.devices} or more",
            )
        )
    return result


def _officer_problems(session: Session, collars: list[str]) -> list[CheckProblem]:
    staff = repository.staff_by_collar(session, set(collars))
    problems = []
    for collar in sorted(set(collars)):
        user = staff.get(collar)
        if user is None or user.role != Role.officer:
            problem = f"no officer has collar number {collar}"
        elif user.disabled_at is not None:
            problem = f"officer {collar}'s account is disabled"
        else:
            continue
        problems.append(CheckProblem(field="officer", value=collar, problem=problem))
    return problems


def _group_problems(session: Session, groups: list[str]) -> list[CheckProblem]:
    known = repository.known_groups(session, set(groups))
    return [
        CheckProblem(
            field="group",
            value=group,
            problem=f"no enrolment token, device or group policy names group {group}",
        )
        for group in sorted(set(groups) - known)
    ]
