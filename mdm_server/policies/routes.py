"""Policies (IT writes, IT and auditors read), assignments, compliance, and the device's
policy endpoint."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response, status

from mdm_server.deps import (
    AnyStaff,
    ContextDep,
    DeviceCaller,
    FleetReader,
    ITAdmin,
    require_step_up,
)
from mdm_server.errors import error_responses
from mdm_server.policies import compliance, resolution, service
from mdm_server.policies.models import Scope
from mdm_server.policies.schemas import (
    AssignmentPublic,
    AssignmentRequest,
    ComplianceChangePublic,
    ComplianceSummary,
    DevicePolicy,
    EnforcementActionPublic,
    Explanation,
    PolicyStored,
    PolicySubmission,
    PolicySummary,
    PolicyVersionPublic,
    ValidationReport,
)
from policies import json_schema

policies_router = APIRouter(prefix="/api/v1/policies", tags=["policies"])
assignments_router = APIRouter(prefix="/api/v1/policy-assignments", tags=["policies"])
compliance_router = APIRouter(prefix="/api/v1", tags=["compliance"])
device_router = APIRouter(prefix="/api/v1/device", tags=["device protocol"])

PolicyName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
GroupPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


@policies_router.post("/validate")
def validate_policy(_: FleetReader, document: Annotated[Any, Body()]) -> ValidationReport:
    """Check a policy document without storing it: every problem, located."""
    return service.validate(document)


@policies_router.get("/schema")
def policy_schema(_: AnyStaff) -> dict[str, Any]:
    """The JSON Schema of a policy document."""
    return json_schema()


@policies_router.get("")
def list_policies(_: FleetReader, context: ContextDep) -> list[PolicySummary]:
    with context.database.unit_of_work(write=False) as session:
        return service.list_policies(session)


@policies_router.put("/{name}")
def store_policy(
    name: PolicyName,
    body: PolicySubmission,
    response: Response,
    principal: ITAdmin,
    context: ContextDep,
) -> PolicyStored:
    """Store a document as the policy's next version (201), or find it unchanged (200).
    A document with problems stores nothing and gets 422 with every problem located."""
    with context.database.unit_of_work() as session:
        stored = service.store(
            session,
            name=name,
            submission=body,
            actor=principal.actor,
            actor_id=principal.user_id,
            now=context.clock(),
        )
    response.status_code = status.HTTP_201_CREATED if stored.created else status.HTTP_200_OK
    return stored


@policies_router.get("/{name}")
def get_policy(name: PolicyName, _: FleetReader, context: ContextDep) -> PolicyVersionPublic:
    """The policy's current version."""
    with context.database.unit_of_work(write=False) as session:
        return service.get_version(session, name, None)


@policies_router.get("/{name}/versions")
def list_policy_versions(
    name: PolicyName, _: FleetReader, context: ContextDep
) -> list[PolicyVersionPublic]:
    """Every version, newest first (without their documents)."""
    with context.database.unit_of_work(write=False) as session:
        return service.versions(session, name)


@policies_router.get("/{name}/versions/{version}")
def get_policy_version(
    name: PolicyName, version: Annotated[int, Path(ge=1)], _: FleetReader, context: ContextDep
) -> PolicyVersionPublic:
    with context.database.unit_of_work(write=False) as session:
        return service.get_version(session, name, version)


@assignments_router.get("")
def list_assignments(_: FleetReader, context: ContextDep) -> list[AssignmentPublic]:
    with context.database.unit_of_work(write=False) as session:
        return service.list_assignments(session)


def _assign(
    scope: Scope, reference: str | None, body: AssignmentRequest, principal: Any, context: Any
) -> AssignmentPublic:
    with context.database.unit_of_work() as session:
        return service.assign(
            session,
            scope=scope,
            reference=reference,
            policy_name=body.policy,
            actor=principal.actor,
            actor_id=principal.user_id,
            now=context.clock(),
        )


def _unassign(scope: Scope, reference: str | None, principal: Any, context: Any) -> Response:
    with context.database.unit_of_work() as session:
        service.unassign(
            session, scope=scope, reference=reference, actor=principal.actor, now=context.clock()
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@assignments_router.put("/fleet", responses=error_responses(404))
def assign_fleet(
    body: AssignmentRequest, principal: ITAdmin, context: ContextDep
) -> AssignmentPublic:
    """Make a policy the fleet default (the first layer of every device), with a second
    factor used in the last minutes (403 `step_up_required` without)."""
    with context.database.unit_of_work(write=False) as session:
        require_step_up(session, principal, context)
    return _assign(Scope.fleet, None, body, principal, context)


@assignments_router.put("/group/{group}")
def assign_group(
    group: GroupPath, body: AssignmentRequest, principal: ITAdmin, context: ContextDep
) -> AssignmentPublic:
    """Apply a policy to every device in a group (layered over the fleet default)."""
    return _assign(Scope.group, group, body, principal, context)


@assignments_router.put("/device/{reference}")
def assign_device(
    reference: str, body: AssignmentRequest, principal: ITAdmin, context: ContextDep
) -> AssignmentPublic:
    """Apply a policy to one device (id, serial or id prefix), layered last."""
    return _assign(Scope.device, reference, body, principal, context)


@assignments_router.delete(
    "/fleet", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404)
)
def unassign_fleet(principal: ITAdmin, context: ContextDep) -> Response:
    return _unassign(Scope.fleet, None, principal, context)


@assignments_router.delete("/group/{group}", status_code=status.HTTP_204_NO_CONTENT)
def unassign_group(group: GroupPath, principal: ITAdmin, context: ContextDep) -> Response:
    return _unassign(Scope.group, group, principal, context)


@assignments_router.delete("/device/{reference}", status_code=status.HTTP_204_NO_CONTENT)
def unassign_device(reference: str, principal: ITAdmin, context: ContextDep) -> Response:
    return _unassign(Scope.device, reference, principal, context)


@compliance_router.get("/devices/{reference}/policy")
def explain_device_policy(reference: str, _: FleetReader, context: ContextDep) -> Explanation:
    """The device's policy as resolved now, each setting with the layer that set it, and its
    findings and actions due against its last posture."""
    with context.database.unit_of_work(write=False) as session:
        return compliance.explain(session, reference, now=context.clock())


@compliance_router.get("/devices/{reference}/compliance")
def device_compliance_history(
    reference: str,
    _: FleetReader,
    context: ContextDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ComplianceChangePublic]:
    """Changes in the device's compliance, newest first."""
    with context.database.unit_of_work(write=False) as session:
        return compliance.history(session, reference, limit=limit)


@compliance_router.get("/compliance/summary")
def compliance_summary(_: FleetReader, context: ContextDep) -> ComplianceSummary:
    """The fleet's compliance: devices per status and group, the rules failing most, and the
    enforcement actions due."""
    with context.database.unit_of_work(write=False) as session:
        return compliance.summary(session)


@compliance_router.get("/compliance/actions")
def list_enforcement_actions(
    _: FleetReader,
    context: ContextDep,
    state: str | None = "due",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EnforcementActionPublic]:
    """Enforcement actions the ladders made due (by default, those still waiting)."""
    with context.database.unit_of_work(write=False) as session:
        return compliance.enforcement_actions(session, state=state, limit=limit)


@compliance_router.post("/compliance/evaluate")
def evaluate_fleet(_: ITAdmin, context: ContextDep) -> dict[str, int]:
    """Evaluate every device now against its last posture (the scheduler does this every few
    minutes; this is for right after a policy change)."""
    report = compliance.sweep(context.database, now=context.clock())
    return {"devices": report.devices, "changed": report.changed}


@device_router.get("/policy")
def device_policy(caller: DeviceCaller, context: ContextDep) -> DevicePolicy:
    """The policy this device must enforce, and its version (as in every check-in answer)."""
    with caller.transaction(context) as (session, device):
        return resolution.device_policy(session, device=device.device, now=context.clock())
