"""Supervisors' one-look view of their division's demand and device health."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from mdm_server.console.access import ConsoleAccess, ConsolePrincipal
from mdm_server.console.charts import Bar, Series, bar_chart, column_chart
from mdm_server.console.templating import TONES, render
from mdm_server.demand import routes as demand_api
from mdm_server.demand.schemas import Buckets
from mdm_server.deps import ContextDep

router = APIRouter(prefix="/console/demand", include_in_schema=False)
SupervisorPage = Annotated[
    ConsolePrincipal, Depends(ConsoleAccess.like(demand_api.division_demand))
]


def _columns(title: str, buckets: Buckets, fmt: str) -> object:
    labels = [start.strftime(fmt) for start in buckets.starts]
    series = [Series(one.type.replace("_", " "), one.counts) for one in buckets.series]
    return column_chart(title, labels, series)


@router.get("")
def demand_view(
    request: Request,
    principal: SupervisorPage,
    context: ContextDep,
    days: Annotated[int, Query(ge=1, le=90)] = 14,
) -> HTMLResponse:
    """Transactions per hour and per day, missing-person and safeguarding work, device health."""
    demand = demand_api.division_demand(principal, context, days=days)
    workload = column_chart(
        "Missing-person and safeguarding work per day",
        [start.strftime("%d %b") for start in demand.workload.starts],
        [
            Series("missing person", demand.workload.missing_person),
            Series("safeguarding", demand.workload.safeguarding),
        ],
    )
    health = bar_chart(
        "Devices by compliance",
        [
            Bar(status.replace("_", " "), count, TONES.get(status, "bad"))
            for status, count in sorted(demand.health.by_compliance.items())
        ],
    )
    return render(
        request,
        "demand.html",
        principal=principal,
        demand=demand,
        days=days,
        hourly=_columns("Transactions per hour, last 24 hours (UTC)", demand.hourly, "%H:00"),
        daily=_columns(f"Transactions per day, last {days} days", demand.daily, "%d %b"),
        workload=workload,
        health=health,
    )
