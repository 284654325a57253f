"""Policies on the server: documents stored as immutable versions, and their assignment to
the fleet, a group or one device. Never commits."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.devices.lookup import find_device
from mdm_server.devices.models import DeviceState
from mdm_server.errors import ConflictError, NotFoundError, UnprocessableError, quoted
from mdm_server.policies import repository
from mdm_server.policies.models import (
    Policy,
    PolicyAssignment,
    PolicyVersion,
    Scope,
)
from mdm_server.policies.resolution import target_label
from mdm_server.policies.schemas import (
    AssignmentPublic,
    PolicyStored,
    PolicySubmission,
    PolicySummary,
    PolicyVersionPublic,
    ValidationReport,
)
from policies import PolicyDocument, PolicyError, ResolvedPolicy, parse_policy

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
            [
                {
                    "field": "name",
                    "problem": f"is {quoted(document.name)}, but the URL names {quoted(name)}",
                }
            ],
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
        raise NotFoundError(f"no policy named {quoted(name)}", code="policy_not_found")
    return policy


def list_policies(session: Session) -> list[PolicySummary]:
    targets: dict[uuid.UUID, list[str]] = {}
    for assignment, policy, _ in repository.assignments(session):
        targets.setdefault(policy.id, []).append(target_label(assignment.scope, assignment.target))
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
        f"policy {quoted(name)} has versions 1 to {policy.current_version}",
        code="version_not_found",
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
            f"no policy is applied to {target_label(scope, target)}", code="assignment_not_found"
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
