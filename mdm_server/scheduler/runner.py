"""Running one scheduled job once, however many workers there are, and putting it on record.

Every worker process runs the same APScheduler jobs. On PostgreSQL a session-level advisory
lock named after the job keeps two workers from running it at the same moment, and a claim on
the job's row in `scheduled_jobs` (its start time moved forward only if the last run began at
least most of an interval ago) keeps a second worker, whose timer fires a little later, from
running it again in the same interval. SQLite serves one process, which runs every job.

Each run is audited as `scheduler.job_ran` with what it did. A run that found nothing to do
is counted instead (`quiet_runs` in the next event), with an event at least hourly, so the
log shows each job alive without an event a minute for nothing."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, text
from sqlmodel import Session, col, select, update

from mdm_server import metrics
from mdm_server.audit.service import SCHEDULER, record
from mdm_server.context import AppContext
from mdm_server.db import insert_ignoring_conflicts
from mdm_server.scheduler.models import ScheduledJob

log = logging.getLogger("tabard.scheduler")
WORKER = f"{socket.gethostname()}:{os.getpid()}"
# A run may be claimed once this much of the interval has passed since the last one began:
# workers whose timers fire a few seconds apart then still share one run per interval.
CLAIM_AFTER = 0.9
QUIET_AUDIT_EVERY = timedelta(hours=1)

JobBody = Callable[[AppContext, datetime], dict[str, int]]


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    body: JobBody  # returns counts of what it did, all zero when there was nothing to do
    # Whether runs are audited (failures always are). Off for the checkpoint job, whose every
    # run would otherwise add the event that makes the next checkpoint due.
    audited: bool = True


_CREATE_ROW = insert_ignoring_conflicts(ScheduledJob.__table__)  # type: ignore[attr-defined]


@contextmanager
def exclusive(context: AppContext, job: str) -> Iterator[bool]:
    """Whether this process may run `job` now: on PostgreSQL, while it holds the job's
    advisory lock (taken without waiting, on a connection of its own)."""
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


def claim(session: Session, job: Job, *, now: datetime) -> bool:
    """Take this interval's run of `job`, unless a worker already took it."""
    session.execute(
        _CREATE_ROW[session.get_bind().dialect.name], {"name": job.name, "runs": 0, "quiet_runs": 0}
    )
    due_by = now - job.every * CLAIM_AFTER
    taken = session.execute(
        update(ScheduledJob)
        .where(col(ScheduledJob.name) == job.name)
        .where(
            or_(
                col(ScheduledJob.last_started_at).is_(None),
                col(ScheduledJob.last_started_at) <= due_by,
            )
        )
        .values(last_started_at=now, last_worker=WORKER)
    )
    return bool(taken.rowcount)  # type: ignore[attr-defined]


def run_job(context: AppContext, job: Job) -> dict[str, int] | None:
    """Run `job` if this interval's run is this worker's to do: what it did, or None if
    another worker has it (or it failed, which is logged and audited)."""
    with exclusive(context, job.name) as mine:
        if not mine:
            return None
        now = context.clock()
        with context.database.unit_of_work() as session:
            if not claim(session, job, now=now):
                return None
        try:
            did = job.body(context, now)
        except Exception as error:
            metrics.JOB_RUNS.labels(job.name, "failed").inc()
            log.exception("scheduled job %s failed", job.name)
            _finish(context, job, now=now, did=None, error=type(error).__name__)
            return None
        _finish(context, job, now=now, did=did, error=None)
        metrics.JOB_RUNS.labels(job.name, "ok").inc()
        if any(did.values()):
            log.info("%s: %s", job.name, ", ".join(f"{k} {v}" for k, v in did.items()))
        return did


def _finish(
    context: AppContext, job: Job, *, now: datetime, did: dict[str, int] | None, error: str | None
) -> None:
    finished = context.clock()
    with context.database.unit_of_work() as session:
        row = session.exec(
            select(ScheduledJob).where(col(ScheduledJob.name) == job.name).with_for_update()
        ).one()
        row.last_finished_at = finished
        row.last_result = did
        row.last_error = error
        row.runs += 1
        quiet = did is not None and not any(did.values())
        due_anyway = row.last_audited_at is None or now - row.last_audited_at >= QUIET_AUDIT_EVERY
        if (quiet and not due_anyway) or (error is None and not job.audited):
            row.quiet_runs += 1
        else:
            detail: dict[str, object] = {"job": job.name}
            if error is not None:
                detail["error"] = error
            else:
                detail.update(did or {})
            detail["quiet_runs"] = row.quiet_runs
            record(
                session,
                actor=SCHEDULER,
                action="scheduler.job_failed" if error is not None else "scheduler.job_ran",
                now=now,
                detail=detail,
            )
            row.quiet_runs = 0
            row.last_audited_at = now
        session.add(row)


def job_status(session: Session) -> list[ScheduledJob]:
    """Every job's last run, by name."""
    return list(session.exec(select(ScheduledJob).order_by(col(ScheduledJob.name))).all())
