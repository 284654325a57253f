"""Scheduled housekeeping inside the server process (APScheduler 3)."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from mdm_server.auth import service as auth_service
from mdm_server.context import AppContext
from mdm_server.devices import service as devices_service
from mdm_server.policies import compliance

log = logging.getLogger("tabard.scheduler")


def purge_expired(context: AppContext) -> None:
    """Forget device assertion ids past their expiry and refresh tokens long expired."""
    now = context.clock()
    with context.database.unit_of_work() as session:
        assertions = devices_service.purge_expired_assertions(session, now=now)
        refresh = auth_service.purge_expired_refresh_tokens(session, now=now)
    if assertions or refresh:
        log.info("purged %d device assertion ids and %d refresh tokens", assertions, refresh)


def evaluate_compliance(context: AppContext) -> None:
    """Evaluate every device against its last posture: ladders advance without check-ins."""
    report = compliance.sweep(context.database, now=context.clock())
    if report.changed:
        log.info("compliance sweep: %d devices, %d changed", report.devices, report.changed)


def start_scheduler(context: AppContext) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        evaluate_compliance,
        "interval",
        args=[context],
        minutes=context.settings.compliance_sweep_minutes,
        id="evaluate_compliance",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        purge_expired,
        "interval",
        args=[context],
        minutes=5,
        id="purge_expired",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    return scheduler
