"""Supervisors' one-look view of their division's demand and device health."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from mdm_server.console.access import ConsoleAccess, ConsolePrincipal
from mdm_server.console.charts import Bar, Series, bar_chart, column_chart
from mdm_server.console.templating import TONES, counted, render
from mdm_server.demand import routes as demand_api
from mdm_server.demand.schemas import Buckets
from mdm_server.deps import ContextDep

router = APIRouter(prefix="/console/demand", include_in_schema=False)
SupervisorPage = Annotated[
    ConsolePrincipal, Depends(ConsoleAccess.like(demand_api.division_demand))
]
HOUR_LABEL, DAY_LABEL = "%H:00", "%a %d %b"  # the zone is named on each axis and table: UTC
SHORT_DAY_LABEL = "%d %b"  # past a month of days, the weekday is left out of the chart


NO_TRANSACTIONS = "No transactions in this period."


def _columns(title: str, buckets: Buckets, fmt: str, axis: str, so_far: str) -> Markup:
    """Answered transactions stacked by type, refused ones in hollow columns beside them, the
    running bucket marked `so_far`."""
    return column_chart(
        title,
        [start.strftime(fmt) for start in buckets.starts],
        [Series(one.type.replace("_", " "), one.counts) for one in buckets.series],
        axis=axis,
        apart=Series("refused (not counted)", buckets.refused) if buckets.refused_total else None,
        so_far=so_far,
        empty=NO_TRANSACTIONS,
    )


@router.get("")
def demand_view(
    request: Request,
    principal: SupervisorPage,
    context: ContextDep,
    days: Annotated[int, Query(ge=1, le=90)] = 14,
) -> HTMLResponse:
    """Answered transactions per hour and per day (refused ones apart), missing-person and
    safeguarding work, device health."""
    demand = demand_api.division_demand(principal, context, days=days)
    day_label = DAY_LABEL if days <= 31 else SHORT_DAY_LABEL
    workload = column_chart(
        "Missing-person and safeguarding work per day",
        [start.strftime(day_label) for start in demand.workload.starts],
        [
            Series("missing person", demand.workload.missing_person),
            Series("safeguarding", demand.workload.safeguarding),
        ],
        axis="Day (UTC)",
        so_far="today",
        empty="No missing-person or safeguarding work in this period.",
    )
    health = bar_chart(
        "Devices by compliance",
        [
            Bar(status.replace("_", " "), count, TONES.get(status, "bad"))
            for status, count in sorted(demand.health.by_compliance.items())
        ],
        empty="No devices in the division.",
    )
    return render(
        request,
        "demand.html",
        principal=principal,
        demand=demand,
        days=days,
        hourly=_columns(
            "Answered transactions per hour, last 24 hours",
            demand.hourly,
            HOUR_LABEL,
            "Hour starting (UTC)",
            "this hour",
        ),
        daily=_columns(
            f"Answered transactions per day, last {counted(days, 'day')}",
            demand.daily,
            day_label,
            "Day (UTC)",
            "today",
        ),
        workload=workload,
        health=health,
        hour_label=HOUR_LABEL,
        day_label=DAY_LABEL,
    )
