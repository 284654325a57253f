"""Scheduled housekeeping inside the server process (APScheduler 3)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import text

from mdm_server.audit.service import Actor, record
from mdm_server.auth import service as auth_service
from mdm_server.commands import service as commands_service
from mdm_server.context import AppContext
from mdm_server.devices import service as devices_service
from mdm_server.policies import compliance

log = logging.getLogger("tabard.scheduler")
EXPIRY_BATCH = 500


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


@contextmanager
def exclusive(context: AppContext, job: str) -> Iterator[bool]:
    """Whether this process may run `job` now. On PostgreSQL, several workers share one
    database: a session-level advisory lock named after the job lets one run it at a time,
    and the others skip their turn. SQLite serves one process, which runs every job."""
    if context.database.dialect != "postgresql":
        yield True
        return
    key = int.from_bytes(
        hashlib.sha256(f"tabard.job.{job}".encode()).digest()[:8], "big", signed=True
    )
    with context.database.engine.connect() as connection:
        got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        connection.commit()
        try:
            yield got
        finally:
            if got:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                connection.commit()


def expire_commands(context: AppContext) -> int:
    """Expire commands whose time to live has run out, each audited, and the run itself."""
    with exclusive(context, "expire_commands") as mine:
        if not mine:
            return 0
        now = context.clock()
        expired = 0
        while True:
            with context.database.unit_of_work() as session:
                done = commands_service.expire_due(session, now=now)
                if done:
                    record(
                        session,
                        actor=Actor.system("scheduler"),
                        action="scheduler.job_ran",
                        now=now,
                        detail={"job": "expire_commands", "expired": done},
                    )
            expired += done
            if done < EXPIRY_BATCH:
                break
        if expired:
            log.info("expired %d commands", expired)
        return expired


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
    scheduler.add_job(
        expire_commands,
        "interval",
        args=[context],
        minutes=1,
        id="expire_commands",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    return scheduler
