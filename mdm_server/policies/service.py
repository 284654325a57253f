"""Policies on the server: storing versions, assigning them, resolving each device's policy,
evaluating compliance at check-in and on schedule, and explaining the result. Never commits.

A device's layers are the fleet's policy, its group's and its own, each at its policy's
current version. Versions are immutable, so a resolution is cached by the versions it used;
a policy epoch, raised by every new version or assignment, tells a check-in whether it must
resolve again."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.cache import BoundedCache
from mdm_server.db import Database
from mdm_server.devices.lookup import find_device
from mdm_server.devices.models import DeviceState
from mdm_server.devices.repository import DeviceRef
from mdm_server.errors import ConflictError, NotFoundError, UnprocessableError
from mdm_server.policies import repository
from mdm_server.policies.models import (
    ActionState,
    ComplianceChange,
    DeviceCompliance,
    EnforcementAction,
    Policy,
    PolicyAssignment,
    PolicyVersion,
    Scope,
)
from mdm_server.policies.repository import LayerRow
from mdm_server.policies.schemas import (
    ActionPublic,
    AssignmentPublic,
    ComplianceChangePublic,
    ComplianceSummary,
    DevicePolicy,
    EnforcementActionPublic,
    Explanation,
    FindingPublic,
    GroupCompliance,
    LayerPublic,
    PolicyStored,
    PolicySubmission,
    PolicySummary,
    PolicyVersionPublic,
    RuleCount,
    SettingPublic,
    ValidationReport,
)
from policies import Layer, PolicyDocument, PolicyError, ResolvedPolicy, evaluate, parse_policy
from policies.compliance import Evaluation, Finding
from policies.layering import resolve

log = logging.getLogger("tabard.policies")

COMPLIANCE_ACTOR = Actor.system("compliance")
_SCOPE_ORDER = {Scope.fleet: 0, Scope.group: 1, Scope.device: 2}

_documents: BoundedCache[PolicyDocument] = BoundedCache(1024)
_resolutions: BoundedCache[ResolvedPolicy] = BoundedCache(4096)
# A device's layers at a policy epoch (and in a group): valid until the epoch moves on.
_device_layers: BoundedCache[tuple[ResolvedPolicy, list[LayerRow]]] = BoundedCache(20_000)


# --- documents and versions ----------------------------------------------------------------


def parse(document: Any) -> PolicyDocument:
    """A policy document, or a 422 listing every located problem."""
    try:
        return parse_policy(document)
    except PolicyError as error:
        problems = [{"field": where, "problem": what} for where, what in error.problems]
        raise UnprocessableError(problems, code="invalid_policy") from None


def version_digest(document: PolicyDocument) -> str:
    """A digest of everything a version says, its description included."""
    content = document.model_dump(mode="json", exclude_none=True)
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def validate(document: Any) -> ValidationReport:
    try:
        parsed = parse_policy(document)
    except PolicyError as error:
        return ValidationReport(valid=False, errors=error.errors)
    settings = ResolvedPolicy.single(parsed).settings
    return ValidationReport(
        valid=True, name=parsed.name, digest=version_digest(parsed), settings=len(settings)
    )


def store(
    session: Session,
    *,
    name: str,
    submission: PolicySubmission,
    actor: Actor,
    actor_id: uuid.UUID | None,
    now: datetime,
) -> PolicyStored:
    """Store a document as the policy's next version (creating the policy if new). The same
    content as the current version stores nothing. Earlier versions are never touched."""
    document = parse(submission.document)
    if document.name != name:
        raise UnprocessableError(
            [{"field": "name", "problem": f"is {document.name!r}, but the URL names {name!r}"}],
            code="invalid_policy",
        )
    digest = version_digest(document)
    policy = repository.policy_by_name(session, name, for_update=True)
    if policy is not None:
        current = repository.version(session, policy.id, policy.current_version)
        if current is not None and current.digest == digest:
            return PolicyStored(
                name=name, version=policy.current_version, created=False, digest=digest
            )
        policy.current_version += 1
        policy.updated_at = now
    else:
        policy = Policy(name=name, current_version=1, created_at=now, updated_at=now)
    session.add(policy)
    session.flush()
    session.add(
        PolicyVersion(
            policy_id=policy.id,
            version=policy.current_version,
            document=document.model_dump(mode="json", exclude_none=True),
            digest=digest,
            source=submission.source,
            comment=submission.comment,
            created_at=now,
            created_by=actor_id,
        )
    )
    repository.bump_epoch(session)
    record(
        session,
        actor=actor,
        action="policy.version_created",
        now=now,
        target_type="policy",
        target_id=policy.id,
        detail={
            "name": name,
            "version": policy.current_version,
            "digest": digest,
            "comment": submission.comment,
        },
    )
    return PolicyStored(name=name, version=policy.current_version, created=True, digest=digest)


def _policy(session: Session, name: str) -> Policy:
    policy = repository.policy_by_name(session, name)
    if policy is None:
        raise NotFoundError(f"no policy named {name!r}", code="policy_not_found")
    return policy


def list_policies(session: Session) -> list[PolicySummary]:
    targets: dict[uuid.UUID, list[str]] = {}
    for assignment, policy, _ in repository.assignments(session):
        targets.setdefault(policy.id, []).append(_target_label(assignment.scope, assignment.target))
    return [
        PolicySummary(
            name=policy.name,
            current_version=policy.current_version,
            updated_at=policy.updated_at,
            assignments=targets.get(policy.id, []),
        )
        for policy in repository.policies(session)
    ]


def versions(session: Session, name: str) -> list[PolicyVersionPublic]:
    policy = _policy(session, name)
    return [
        _version_public(policy, stored, username, full=False)
        for stored, username in repository.versions(session, policy.id)
    ]


def get_version(session: Session, name: str, number: int | None) -> PolicyVersionPublic:
    policy = _policy(session, name)
    wanted = number if number is not None else policy.current_version
    for stored, username in repository.versions(session, policy.id):
        if stored.version == wanted:
            return _version_public(policy, stored, username, full=True)
    raise NotFoundError(
        f"policy {name!r} has versions 1 to {policy.current_version}", code="version_not_found"
    )


def _version_public(
    policy: Policy, stored: PolicyVersion, username: str | None, *, full: bool
) -> PolicyVersionPublic:
    return PolicyVersionPublic(
        name=policy.name,
        version=stored.version,
        current=stored.version == policy.current_version,
        digest=stored.digest,
        comment=stored.comment,
        created_at=stored.created_at,
        created_by=username,
        document=stored.document if full else None,
        source=stored.source if full else None,
    )


# --- assignments -------------------------------------------------------------------------


def _target_label(scope: str, target: str) -> str:
    return scope if scope == Scope.fleet else f"{scope}:{target}"


def _target(session: Session, scope: Scope, reference: str | None) -> str:
    if scope == Scope.fleet:
        return ""
    assert reference is not None
    if scope == Scope.group:
        return reference
    device = find_device(session, reference)
    if device.state != DeviceState.active:
        raise ConflictError(f"device is {device.state}; only active devices take a policy")
    return str(device.id)


def assign(
    session: Session,
    *,
    scope: Scope,
    reference: str | None,
    policy_name: str,
    actor: Actor,
    actor_id: uuid.UUID | None,
    now: datetime,
) -> AssignmentPublic:
    """Apply a policy (at its current version, and every later one) to the fleet, a group or
    one device, replacing whatever was applied there before."""
    policy = _policy(session, policy_name)
    target = _target(session, scope, reference)
    existing = repository.assignment(session, scope, target, for_update=True)
    previous = None
    if existing is None:
        existing = PolicyAssignment(
            scope=scope, target=target, policy_id=policy.id, assigned_at=now
        )
    elif existing.policy_id == policy.id:
        return _assignment_public(existing, policy, None)
    else:
        previous_policy = session.get(Policy, existing.policy_id)
        previous = previous_policy.name if previous_policy else None
        existing.policy_id = policy.id
    existing.assigned_at = now
    existing.assigned_by = actor_id
    session.add(existing)
    repository.bump_epoch(session)
    record(
        session,
        actor=actor,
        action="policy.assigned",
        now=now,
        target_type="policy",
        target_id=policy.id,
        detail={
            "scope": str(scope),
            "target": target or None,
            "policy": policy.name,
            "version": policy.current_version,
            "replaced": previous,
        },
    )
    return _assignment_public(existing, policy, None)


def unassign(
    session: Session, *, scope: Scope, reference: str | None, actor: Actor, now: datetime
) -> None:
    target = _target(session, scope, reference)
    existing = repository.assignment(session, scope, target, for_update=True)
    if existing is None:
        raise NotFoundError(
            f"no policy is applied to {_target_label(scope, target)}", code="assignment_not_found"
        )
    policy = session.get(Policy, existing.policy_id)
    session.delete(existing)
    repository.bump_epoch(session)
    record(
        session,
        actor=actor,
        action="policy.unassigned",
        now=now,
        target_type="policy",
        target_id=existing.policy_id,
        detail={
            "scope": str(scope),
            "target": target or None,
            "policy": policy.name if policy else None,
        },
    )


def list_assignments(session: Session) -> list[AssignmentPublic]:
    return [
        _assignment_public(assignment, policy, username)
        for assignment, policy, username in repository.assignments(session)
    ]


def _assignment_public(
    assignment: PolicyAssignment, policy: Policy, username: str | None
) -> AssignmentPublic:
    return AssignmentPublic(
        scope=assignment.scope,
        target=assignment.target or None,
        policy=policy.name,
        version=policy.current_version,
        assigned_at=assignment.assigned_at,
        assigned_by=username,
    )


# --- resolution ----------------------------------------------------------------------------


def _layer_name(row: LayerRow) -> str:
    if row.scope == Scope.fleet:
        return "fleet"
    if row.scope == Scope.group:
        return f"group:{row.target}"
    return f"device:{row.target[:8]}"


def _document(session: Session, row: LayerRow) -> PolicyDocument:
    def load() -> PolicyDocument:
        return PolicyDocument.model_validate(
            repository.version_document(session, row.policy_id, row.version)
        )

    return _documents.get_or_compute((row.policy_id, row.version), load)


def resolve_device(
    session: Session, *, device_id: uuid.UUID, group: str, epoch: int | None = None
) -> tuple[ResolvedPolicy, list[LayerRow]]:
    """The device's policy now: its layers resolved, least specific first. Given the current
    policy epoch, an answer already worked out at that epoch is reused."""
    if epoch is None:
        return _resolve_device(session, device_id=device_id, group=group)
    return _device_layers.get_or_compute(
        (epoch, group, device_id),
        lambda: _resolve_device(session, device_id=device_id, group=group),
    )


def _resolve_device(
    session: Session, *, device_id: uuid.UUID, group: str
) -> tuple[ResolvedPolicy, list[LayerRow]]:
    rows = sorted(
        repository.layers_for(session, group=group, device_id=device_id),
        key=lambda row: _SCOPE_ORDER[Scope(row.scope)],
    )
    key = tuple((row.scope, row.target, row.policy_id, row.version) for row in rows)

    def compute() -> ResolvedPolicy:
        layers = [Layer(_layer_name(row), _document(session, row)) for row in rows]
        return resolve(layers, name="resolved")

    return _resolutions.get_or_compute(key, compute), rows


def device_view(resolved: ResolvedPolicy) -> dict[str, Any]:
    """The part of a resolved policy a device enforces; appropriate-use thresholds and the
    enforcement ladder stay on the server."""
    full = resolved.document.model_dump(mode="json", exclude_none=True)
    view: dict[str, Any] = {
        key: full[key] for key in ("device", "secure_side", "personal_side") if key in full
    }
    use = full.get("appropriate_use", {})
    served = {key: use[key] for key in ("transaction_types", "policy_text_version") if key in use}
    if served:
        view["appropriate_use"] = served
    return {"schema_version": full["schema_version"], **view}


def _served_version(session: Session, resolved: ResolvedPolicy, now: datetime) -> int:
    found = repository.find_resolved_id(session, resolved.digest)
    if found is not None:
        return found
    document = resolved.document.model_dump(mode="json", exclude_none=True)
    return repository.resolved_id(session, digest=resolved.digest, document=document, now=now)


def device_policy(session: Session, *, device: DeviceRef, now: datetime) -> DevicePolicy:
    """What `GET /api/v1/device/policy` serves: the device's resolved policy now."""
    resolved, _ = resolve_device(session, device_id=device.id, group=device.group_name)
    version = _served_version(session, resolved, now)
    return DevicePolicy(version=version, digest=resolved.digest, policy=device_view(resolved))


def privacy_contract(resolved: ResolvedPolicy) -> list[str] | None:
    contract = resolved.settings.get("personal_side.privacy_contract")
    return list(contract) if contract is not None else None


# --- compliance ----------------------------------------------------------------------------


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
) -> tuple[int, str]:
    """Evaluate the device's posture against its policy, store the result if it changed (with
    the change in its history), keep the enforcement actions due in step, and return (policy
    version, status). `known` is what the check-in already read about the device; it spares
    queries and writes that would change nothing."""
    epoch = known.current_policy_epoch if known is not None else None
    if epoch is None:
        epoch = repository.current_epoch(session)
    policy, rows = resolved or resolve_device(
        session, device_id=device_id, group=group, epoch=epoch
    )
    version = _served_version(session, policy, now)
    stored = repository.compliance(session, device_id, for_update=True)
    evaluation = evaluate(policy, posture or {}, now=now, first_seen=_first_seen(stored))
    findings = [_finding_json(finding) for finding in evaluation.findings]
    actions = _actions_json(evaluation)
    first_seen = {
        finding.rule: finding.first_seen.isoformat()
        for finding in evaluation.findings
        if finding.first_seen is not None
    }
    status = evaluation.status
    result: dict[str, Any] = {
        "resolved_policy_id": version,
        "layers": [f"{_layer_name(row)}={row.name}@{row.version}" for row in rows],
        "status": status,
        "findings": findings,
        "actions": actions,
        "first_seen": first_seen,
    }

    previous_actions: list[dict[str, Any]] = []
    if stored is None:
        session.add(
            DeviceCompliance(device_id=device_id, status_since=now, updated_at=now, **result)
        )
        _record_change(
            session, device_id, None, status, version, _rule_changes([], findings), cause, now
        )
    else:
        previous_actions = stored.actions
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
    if actions != previous_actions:
        _record_actions(session, device_id, evaluation, now)
    review_at = evaluation.next_change
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
    return version, status


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
            row.state = ActionState.superseded
            row.closed_at = now
            session.add(row)
            record(
                session,
                actor=COMPLIANCE_ACTOR,
                action="enforcement.action_superseded",
                now=now,
                target_type="device",
                target_id=device_id,
                detail={"action": name, "reason": "no longer due"},
            )


@dataclass(frozen=True)
class SweepReport:
    devices: int
    changed: int


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
                stored = repository.compliance(session, row.id)
                before = stored.status if stored is not None else None
                _, status = evaluate_device(
                    session,
                    device_id=row.id,
                    group=row.group_name,
                    posture=row.posture,
                    now=now,
                    cause="sweep",
                )
                devices += 1
                changed += before != status
        if len(rows) < batch:
            return SweepReport(devices=devices, changed=changed)
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
    return Explanation(
        device_id=device.id,
        serial=device.serial,
        group=device.group_name,
        layers=[
            LayerPublic(layer=_layer_name(row), policy=row.name, version=row.version)
            for row in rows
        ],
        policy_version=found,
        device_policy_version=applied,
        settings=[
            SettingPublic(
                path=path, value=resolved.settings[path], layers=list(origin.layers), how=origin.how
            )
            for path, origin in resolved.provenance.items()
        ],
        status=evaluation.status,
        findings=[FindingPublic(**_finding_json(finding)) for finding in evaluation.findings],
        actions=[
            ActionPublic(action=a.action, severity=a.severity, rules=list(a.rules), due_at=a.due_at)
            for a in evaluation.actions
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
