"""Compliance on the server: each device's posture evaluated against its resolved policy at
check-in and whenever time alone can change the result, stored with its history and audited
when the status changes, the enforcement actions due kept in step, and the explanations and
summaries IT and auditors read. Never commits."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.db import Database
from mdm_server.devices.lookup import find_device
from mdm_server.devices.models import COMPLIANCE_NOT_APPLICABLE, Device, DeviceState
from mdm_server.devices.repository import DeviceRef
from mdm_server.errors import UnprocessableError
from mdm_server.policies import repository
from mdm_server.policies.models import (
    ActionState,
    ComplianceChange,
    DeviceCompliance,
    EnforcementAction,
)
from mdm_server.policies.repository import LayerRow
from mdm_server.policies.resolution import layer_name, resolve_device, served_version
from mdm_server.policies.schemas import (
    ActionPublic,
    ComplianceChangePublic,
    ComplianceSummary,
    EnforcementActionPublic,
    Explanation,
    FindingPublic,
    GroupCompliance,
    LayerPublic,
    RuleCount,
    SettingPublic,
)
from policies import ResolvedPolicy, evaluate
from policies.compliance import Evaluation, Finding

COMPLIANCE_ACTOR = Actor.system("compliance")


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "severity": finding.severity,
        "status": finding.status,
        "expected": finding.expected,
        "actual": finding.actual,
        "first_seen": _iso(finding.first_seen),
        "grace_deadline": _iso(finding.grace_deadline),
        "compensating_control": finding.compensating_control,
        "message": finding.message,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _actions_json(evaluation: Evaluation) -> list[dict[str, Any]]:
    return [
        {
            "action": action.action,
            "severity": action.severity,
            "rules": list(action.rules),
            "due_at": action.due_at.isoformat(),
        }
        for action in evaluation.actions
    ]


def _first_seen(stored: DeviceCompliance | None) -> dict[str, datetime]:
    if stored is None:
        return {}
    return {rule: datetime.fromisoformat(at) for rule, at in stored.first_seen.items()}


def needs_evaluation(device: DeviceRef, *, posture_changed: bool, now: datetime) -> bool:
    """Whether a check-in could change the device's compliance: new posture, a policy change
    since it was last resolved, or the time its last evaluation said would change it."""
    return (
        posture_changed
        or device.policy_version is None
        or device.policy_epoch is None
        or device.policy_epoch != device.current_policy_epoch
        or (device.compliance_review_at is not None and device.compliance_review_at <= now)
    )


@dataclass(frozen=True)
class DeviceEvaluation:
    policy_version: int
    status: str
    previous_status: str | None  # None: the device's first evaluation


def evaluate_device(
    session: Session,
    *,
    device_id: uuid.UUID,
    group: str,
    posture: Mapping[str, Any] | None,
    now: datetime,
    cause: str,
    resolved: tuple[ResolvedPolicy, list[LayerRow]] | None = None,
    known: DeviceRef | None = None,
    epoch: int | None = None,
) -> DeviceEvaluation:
    """Evaluate the device's posture against its policy, store the result if it changed (with
    the change in its history) and keep the enforcement actions due in step. `known` is what
    the check-in already read about the device, `epoch` the policy epoch if the caller has
    read it; both spare queries and writes that would change nothing."""
    if epoch is None and known is not None:
        epoch = known.current_policy_epoch
    if epoch is None:
        epoch = repository.current_epoch(session)
    policy, rows = resolved or resolve_device(
        session, device_id=device_id, group=group, epoch=epoch
    )
    version = served_version(session, policy, now)
    stored = repository.compliance(session, device_id, for_update=True)
    evaluation = evaluate(policy, posture or {}, now=now, first_seen=_first_seen(stored))
    result: dict[str, Any] = {
        "resolved_policy_id": version,
        "layers": [f"{layer_name(row)}={row.name}@{row.version}" for row in rows],
        "status": evaluation.status,
        "findings": [_finding_json(finding) for finding in evaluation.findings],
        "actions": _actions_json(evaluation),
        "first_seen": {
            finding.rule: finding.first_seen.isoformat()
            for finding in evaluation.findings
            if finding.first_seen is not None
        },
    }
    previous_actions = stored.actions if stored is not None else []
    previous_status = stored.status if stored is not None else None
    _store_result(session, device_id, stored, result, cause=cause, now=now)
    if result["actions"] != previous_actions:
        _record_actions(session, device_id, evaluation, now)
    status, review_at = evaluation.status, evaluation.next_change
    if known is None or (
        known.policy_version,
        known.policy_epoch,
        known.compliance_status,
        known.compliance_review_at,
    ) != (version, epoch, status, review_at):
        repository.set_device_policy(
            session,
            device_id,
            policy_version=version,
            epoch=epoch,
            status=status,
            review_at=review_at,
        )
    return DeviceEvaluation(policy_version=version, status=status, previous_status=previous_status)


def _store_result(
    session: Session,
    device_id: uuid.UUID,
    stored: DeviceCompliance | None,
    result: dict[str, Any],
    *,
    cause: str,
    now: datetime,
) -> None:
    """Keep the evaluation's result if it differs from the stored one, with the difference in
    the device's compliance history."""
    status, version, findings = result["status"], result["resolved_policy_id"], result["findings"]
    if stored is None:
        session.add(
            DeviceCompliance(device_id=device_id, status_since=now, updated_at=now, **result)
        )
        changes = _rule_changes([], findings)
        _record_change(session, device_id, None, status, version, changes, cause, now)
        return
    changes = _rule_changes(stored.findings, findings)
    if stored.resolved_policy_id != version:
        changes["policy_version"] = [stored.resolved_policy_id, version]
    if status != stored.status or changes:
        _record_change(session, device_id, stored.status, status, version, changes, cause, now)
    if status != stored.status:
        stored.status_since = now
    if any(getattr(stored, name) != value for name, value in result.items()):
        for name, value in result.items():
            setattr(stored, name, value)
        stored.updated_at = now
        session.add(stored)


def _rule_changes(
    before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    old = {finding["rule"]: finding["status"] for finding in before}
    new = {finding["rule"]: finding["status"] for finding in after}
    return {
        rule: [old.get(rule), new.get(rule)]
        for rule in sorted(old.keys() | new.keys())
        if old.get(rule) != new.get(rule)
    }


def _record_change(
    session: Session,
    device_id: uuid.UUID,
    before: str | None,
    after: str,
    version: int,
    changes: dict[str, Any],
    cause: str,
    now: datetime,
) -> None:
    session.add(
        ComplianceChange(
            device_id=device_id,
            at=now,
            status_before=before,
            status_after=after,
            resolved_policy_id=version,
            changes=changes,
            cause=cause,
        )
    )
    if before != after:
        record(
            session,
            actor=COMPLIANCE_ACTOR,
            action="device.compliance_changed",
            now=now,
            target_type="device",
            target_id=device_id,
            detail={"from": before, "to": after, "policy_version": version, "cause": cause},
        )


def _record_actions(
    session: Session, device_id: uuid.UUID, evaluation: Evaluation, now: datetime
) -> None:
    """Open a `due` row for each action newly due; close those no longer due."""
    open_rows = {row.action: row for row in repository.open_actions(session, device_id)}
    due = {action.action: action for action in evaluation.actions}
    for name, action in due.items():
        row = open_rows.get(name)
        if row is None:
            session.add(
                EnforcementAction(
                    device_id=device_id,
                    action=name,
                    severity=action.severity,
                    rules=list(action.rules),
                    due_at=action.due_at,
                    recorded_at=now,
                )
            )
            record(
                session,
                actor=COMPLIANCE_ACTOR,
                action="enforcement.action_due",
                now=now,
                target_type="device",
                target_id=device_id,
                detail={
                    "action": name,
                    "severity": action.severity,
                    "rules": list(action.rules),
                    "due_at": action.due_at.isoformat(),
                },
            )
        elif row.rules != list(action.rules) or row.severity != action.severity:
            row.rules = list(action.rules)
            row.severity = action.severity
            session.add(row)
    for name, row in open_rows.items():
        if name not in due:
            _supersede(session, row, reason="no longer due", now=now)


def _supersede(session: Session, row: EnforcementAction, *, reason: str, now: datetime) -> None:
    """Close an open enforcement action before it is carried out (again), audited."""
    row.state = ActionState.superseded
    row.closed_at = now
    session.add(row)
    record(
        session,
        actor=COMPLIANCE_ACTOR,
        action="enforcement.action_superseded",
        now=now,
        target_type="device",
        target_id=row.device_id,
        detail={"action": row.action, "reason": reason},
    )


def stand_down(session: Session, *, device: Device, reason: str, now: datetime) -> None:
    """The device has left service (retired or wiped): nothing is evaluated or enforced
    against it any more. Its open enforcement actions are superseded, each audited, and no
    review is scheduled; its last result stays, as history, in its compliance record."""
    device.compliance_review_at = None
    session.add(device)
    for row in repository.open_actions(session, device.id):
        _supersede(session, row, reason=reason, now=now)


@dataclass(frozen=True)
class SweepReport:
    devices: int
    changed: int
    stood_down: int = 0  # open actions of devices already out of service, superseded


def stand_down_out_of_service(database: Database, *, now: datetime, batch: int = 200) -> int:
    """Supersede, audited, the open enforcement actions of devices already retired or wiped
    (left open by a release before retiring stood them down); how many."""
    done = 0
    while True:
        with database.unit_of_work() as session:
            rows = repository.open_actions_out_of_service(session, limit=batch)
            for row, state in rows:
                _supersede(session, row, reason=f"device {state}", now=now)
        done += len(rows)
        if len(rows) < batch:
            return done


def sweep(database: Database, *, now: datetime, batch: int = 200) -> SweepReport:
    """Evaluate again every device whose compliance may have changed without a check-in (a
    grace period ended, a policy changed), a batch per transaction, so ladders advance even
    for devices that stay offline."""
    after: uuid.UUID | None = None
    devices = changed = 0
    while True:
        with database.unit_of_work() as session:
            epoch = repository.current_epoch(session)
            rows = repository.devices_to_sweep(
                session, now=now, epoch=epoch, after=after, limit=batch
            )
            for row in rows:
                if row.posture is None:
                    continue
                result = evaluate_device(
                    session,
                    device_id=row.id,
                    group=row.group_name,
                    posture=row.posture,
                    now=now,
                    cause="sweep",
                    epoch=epoch,
                )
                devices += 1
                changed += result.previous_status != result.status
        if len(rows) < batch:
            stood_down = stand_down_out_of_service(database, now=now, batch=batch)
            return SweepReport(devices=devices, changed=changed, stood_down=stood_down)
        after = rows[-1].id


# --- explanation and summary -----------------------------------------------------------------


def explain(session: Session, reference: str, *, now: datetime) -> Explanation:
    """The device's policy as resolved now, each setting with its layer, and its findings
    against its last posture."""
    device = find_device(session, reference)
    resolved, rows = resolve_device(session, device_id=device.id, group=device.group_name)
    stored = repository.compliance(session, device.id)
    evaluation = evaluate(resolved, device.posture or {}, now=now, first_seen=_first_seen(stored))
    found = repository.find_resolved_id(session, resolved.digest)
    applied = (device.posture or {}).get("policy_version_applied")
    in_service = device.state == DeviceState.active  # else nothing is due, nothing applies
    return Explanation(
        device_id=device.id,
        serial=device.serial,
        group=device.group_name,
        layers=[
            LayerPublic(layer=layer_name(row), policy=row.name, version=row.version) for row in rows
        ],
        policy_version=found,
        device_policy_version=applied,
        settings=[
            SettingPublic(
                path=path, value=resolved.settings[path], layers=list(origin.layers), how=origin.how
            )
            for path, origin in resolved.provenance.items()
        ],
        status=evaluation.status if in_service else COMPLIANCE_NOT_APPLICABLE,
        findings=[FindingPublic(**_finding_json(finding)) for finding in evaluation.findings],
        actions=[
            ActionPublic(action=a.action, severity=a.severity, rules=list(a.rules), due_at=a.due_at)
            for a in evaluation.actions
            if in_service
        ],
        evaluated_at=now,
        posture_received_at=device.posture_received_at,
        stored_status=stored.status if stored else None,
        stored_at=stored.updated_at if stored else None,
    )


def history(session: Session, reference: str, *, limit: int) -> list[ComplianceChangePublic]:
    device = find_device(session, reference)
    return [
        ComplianceChangePublic(
            at=change.at,
            status_before=change.status_before,
            status_after=change.status_after,
            policy_version=change.resolved_policy_id,
            changes=change.changes,
            cause=change.cause,
        )
        for change in repository.compliance_history(session, device.id, limit=limit)
    ]


def summary(session: Session) -> ComplianceSummary:
    by_status: Counter[str] = Counter()
    groups: dict[str, Counter[str]] = {}
    for group, status, count in repository.status_counts(session):
        label = status or "not_evaluated"
        by_status[label] += count
        groups.setdefault(group, Counter())[label] += count
    failing: Counter[str] = Counter()
    incompatible: Counter[str] = Counter()
    for findings in repository.findings_of_active_devices(session):
        failing.update({f["rule"] for f in findings if f["status"] == "non_compliant"})
        incompatible.update({f["rule"] for f in findings if f["status"] == "incompatible"})
    return ComplianceSummary(
        devices=sum(by_status.values()),
        by_status=dict(sorted(by_status.items())),
        by_group=[
            GroupCompliance(
                group=group, devices=sum(counts.values()), by_status=dict(sorted(counts.items()))
            )
            for group, counts in sorted(groups.items())
        ],
        failing_rules=_ranked(failing),
        incompatible_rules=_ranked(incompatible),
        actions_due=dict(sorted(repository.actions_due_counts(session))),
    )


def _ranked(counts: Counter[str]) -> list[RuleCount]:
    return [
        RuleCount(rule=rule, devices=n)
        for rule, n in sorted(counts.items(), key=lambda i: (-i[1], i[0]))
    ]


def enforcement_actions(
    session: Session, *, state: str | None, limit: int
) -> list[EnforcementActionPublic]:
    if state is not None and state not in ActionState.__members__:
        raise UnprocessableError(
            f"state must be one of {', '.join(ActionState.__members__)}", code="invalid_filter"
        )
    return [
        EnforcementActionPublic(
            id=row.id,
            device_id=row.device_id,
            serial=serial,
            action=row.action,
            severity=row.severity,
            rules=row.rules,
            due_at=row.due_at,
            recorded_at=row.recorded_at,
            state=row.state,
        )
        for row, serial in repository.actions(session, state=state, limit=limit)
    ]
