"""The demand view over HTTP, for supervisors: their own division only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mdm_server.demand import service
from mdm_server.demand.schemas import Demand
from mdm_server.deps import ContextDep, Supervisor
from mdm_server.errors import PermissionDeniedError

router = APIRouter(prefix="/api/v1/demand", tags=["supervisors"])


@router.get("")
def division_demand(
    principal: Supervisor,
    context: ContextDep,
    days: Annotated[int, Query(ge=1, le=90, description="Days of daily counts.")] = 14,
) -> Demand:
    """Transactions by type per hour and per day, missing-person and safeguarding workload,
    open missing-person cases by risk and referrals waiting and overdue, and device health,
    for the caller's division (counts only: no subjects, no names)."""
    if principal.division is None:
        raise PermissionDeniedError("your account has no division; ask IT to set one")
    with context.database.unit_of_work(write=False) as session:
        return service.demand(
            session,
            division=principal.division,
            days=days,
            now=context.clock(),
            records=context.records,
            triage_hours=context.settings.safeguarding_triage_hours,
        )
