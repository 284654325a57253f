"""Supervisors' one-look view of their division: demand by hour beside the same hours last
week, the busiest hours, what the missing-persons unit and the MASH team have open, the map of
the last 24 hours' reports, demand by day, the departments' workload and device health. The
page polls itself for its live part (htmx asks for the `fragment` block alone), so the
figures stay current without a reload."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from mdm_server.console.access import ConsoleAccess, ConsolePrincipal
from mdm_server.console.charts import Bar, Series, bar_chart, column_chart
from mdm_server.console.heatmap import Cell, busiest, heatmap_chart
from mdm_server.console.pages.division_map import map_panel
from mdm_server.console.templating import TONES, counted, render
from mdm_server.demand import routes as demand_api
from mdm_server.demand.schemas import Buckets, BusiestHours, Demand
from mdm_server.demand.service import DAYS
from mdm_server.deps import ContextDep
from mdm_server.missing_persons.cases import RISK_WORDS

router = APIRouter(prefix="/console/demand", include_in_schema=False)
SupervisorPage = Annotated[
    ConsolePrincipal, Depends(ConsoleAccess.like(demand_api.division_demand))
]
HOUR_LABEL, DAY_LABEL = "%H:00", "%a %d %b"  # the zone is named on each axis and table: UTC
SHORT_DAY_LABEL = "%d %b"  # past a month of days, the weekday is left out of the chart
WEEKDAYS = tuple(day[:3].title() for day in DAYS)  # Mon first, as a British week runs

NO_TRANSACTIONS = "No transactions in this period."
RISK_TONES = {"high": "bad", "medium": "warn", "low": "info", "no_apparent_risk": "muted"}


def _columns(
    title: str,
    buckets: Buckets,
    fmt: str,
    axis: str,
    so_far: str,
    beside: Buckets | None = None,
) -> Markup:
    """Answered transactions stacked by type, refused ones in hollow columns beside them,
    `beside` (the same hours last week) as a dashed line, the running bucket marked
    `so_far`."""
    return column_chart(
        title,
        [start.strftime(fmt) for start in buckets.starts],
        [Series(one.type.replace("_", " "), one.counts) for one in buckets.series],
        axis=axis,
        apart=Series("refused (not counted)", buckets.refused) if buckets.refused_total else None,
        beside=Series("same hour last week", answered(beside)) if beside is not None else None,
        so_far=so_far,
        empty=NO_TRANSACTIONS,
    )


def answered(buckets: Buckets) -> list[int]:
    """Answered transactions of every type, per bucket."""
    return [sum(one.counts[i] for one in buckets.series) for i in range(len(buckets.starts))]


def busiest_cells(hours: BusiestHours) -> list[Cell]:
    """The busiest hours as heatmap cells: hours across, days down, Monday first."""
    return [
        Cell(
            column=row.hour,
            row=number,
            count=getattr(row, day),
            name=f"{WEEKDAYS[number]} {row.hour:02d}:00",
        )
        for row in hours.hours
        for number, day in enumerate(DAYS)
    ]


def _charts(demand: Demand, days: int) -> dict[str, Markup]:
    """Every chart of the page, by the name the template places it under."""
    day_label = DAY_LABEL if days <= 31 else SHORT_DAY_LABEL
    weeks = counted(demand.busiest.weeks, "week")
    waiting, overdue = demand.departments.referrals_waiting, demand.departments.referrals_overdue
    return {
        "hourly": _columns(
            "Answered transactions per hour, last 24 hours, beside the same hours last week",
            demand.hourly,
            HOUR_LABEL,
            "Hour starting (UTC)",
            "this hour",
            beside=demand.last_week,
        ),
        "busiest": heatmap_chart(
            f"Busiest hours, last {weeks}",
            [f"{hour:02d}" for hour in range(24)],
            WEEKDAYS,
            busiest_cells(demand.busiest),
            across="Hour starting (UTC)",
            down="Day",
            empty=f"No answered transactions in the last {weeks}.",
        ),
        "daily": _columns(
            f"Answered transactions per day, last {counted(days, 'day')}",
            demand.daily,
            day_label,
            "Day (UTC)",
            "today",
        ),
        "workload": column_chart(
            "Missing-person and safeguarding work per day",
            [start.strftime(day_label) for start in demand.workload.starts],
            [
                Series("missing person", demand.workload.missing_person),
                Series("safeguarding", demand.workload.safeguarding),
            ],
            axis="Day (UTC)",
            so_far="today",
            empty="No missing-person or safeguarding work in this period.",
        ),
        "missing_persons": bar_chart(
            "Open missing-person cases by risk",
            [
                Bar(RISK_WORDS[risk], count, RISK_TONES[risk])
                for risk, count in demand.departments.missing_persons_open.items()
            ]
            if demand.departments.missing_persons_total
            else [],
            empty="No missing-person case is open.",
        ),
        "referrals": bar_chart(
            "Safeguarding referrals waiting for a decision",
            [Bar("within the deadline", waiting - overdue, "good"), Bar("overdue", overdue, "bad")]
            if waiting
            else [],
            empty="No referral waits for a decision.",
        ),
        "health": bar_chart(
            "Devices by compliance",
            [
                Bar(status.replace("_", " "), count, TONES.get(status, "bad"))
                for status, count in sorted(demand.health.by_compliance.items())
            ],
            empty="No devices in the division.",
        ),
    }


@router.get("")
def demand_view(
    request: Request,
    principal: SupervisorPage,
    context: ContextDep,
    days: Annotated[int, Query(ge=1, le=90)] = 14,
) -> HTMLResponse:
    """Answered transactions per hour beside last week's, the busiest hours, the departments'
    open cases and referrals, the last 24 hours on the map, per day (refused ones apart),
    missing-person and safeguarding work, device health; the live part alone when htmx polls
    for it."""
    demand = demand_api.division_demand(principal, context, days=days)
    return render(
        request,
        "demand.html",
        principal=principal,
        demand=demand,
        days=days,
        refresh_s=context.settings.demand_refresh_s,
        charts=_charts(demand, days),
        map=map_panel(context, principal, kinds=None, window="24h"),
        risk_words=RISK_WORDS,
        triage_hours=context.settings.safeguarding_triage_hours,
        busiest=busiest(busiest_cells(demand.busiest)),
        last_week=answered(demand.last_week),
        hour_totals=[sum(getattr(row, day) for day in DAYS) for row in demand.busiest.hours],
        weekdays=WEEKDAYS,
        week_days=DAYS,
        hour_label=HOUR_LABEL,
        day_label=DAY_LABEL,
    )
