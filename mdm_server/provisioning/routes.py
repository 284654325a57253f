"""Provisioning runs report here as they go (IT only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from mdm_server.deps import ContextDep, ITAdmin
from mdm_server.provisioning import runs, service
from mdm_server.provisioning.schemas import (
    ProvisioningCheck,
    ProvisioningCheckResult,
    ProvisioningEventBatch,
    ProvisioningEventsRecorded,
    RunDetail,
    RunSummary,
)

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


@provisioning_router.post("/checks")
def check_provisioning_run(
    body: ProvisioningCheck, _: ITAdmin, context: ContextDep
) -> ProvisioningCheckResult:
    """Check a run's officers, groups and enrolment token before any device is touched:
    every problem at once. Changes nothing."""
    with context.database.unit_of_work(write=False) as session:
        return service.check_run(session, check=body, now=context.clock())


@provisioning_router.get("/runs")
def list_provisioning_runs(
    _: ITAdmin, context: ContextDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[RunSummary]:
    """Provisioning runs, newest first, with their devices counted by outcome."""
    with context.database.unit_of_work(write=False) as session:
        return runs.list_runs(session, limit=limit)


@provisioning_router.get("/runs/{run_id}")
def get_provisioning_run(run_id: uuid.UUID, _: ITAdmin, context: ContextDep) -> RunDetail:
    """One run: each device's result, mode and steps."""
    with context.database.unit_of_work(write=False) as session:
        return runs.run_detail(session, run_id)
