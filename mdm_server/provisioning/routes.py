"""Provisioning runs report here as they go (IT only)."""

from __future__ import annotations

from fastapi import APIRouter, status

from mdm_server.deps import ContextDep, ITAdmin
from mdm_server.provisioning import service
from mdm_server.provisioning.schemas import ProvisioningEventBatch, ProvisioningEventsRecorded

provisioning_router = APIRouter(prefix="/api/v1/provisioning", tags=["provisioning"])


@provisioning_router.post("/events", status_code=status.HTTP_201_CREATED)
def record_provisioning_events(
    body: ProvisioningEventBatch, principal: ITAdmin, context: ContextDep
) -> ProvisioningEventsRecorded:
    """Record a provisioning run's progress in the audit log, attributed to the caller."""
    with context.database.unit_of_work() as session:
        recorded = service.record_events(
            session, events=body.events, actor=principal.actor, now=context.clock()
        )
    return ProvisioningEventsRecorded(recorded=recorded)
