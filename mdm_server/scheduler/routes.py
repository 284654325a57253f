"""The scheduled jobs' last runs, for IT and auditors: is enforcement running, and what did
it do last."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from mdm_server.deps import ContextDep, FleetReader
from mdm_server.scheduler.jobs import jobs
from mdm_server.scheduler.runner import job_status

router = APIRouter(prefix="/api/v1/scheduler", tags=["scheduler"])


class JobPublic(BaseModel):
    name: str
    every_s: int
    last_started_at: datetime | None = None  # never run: no times, no result
    last_finished_at: datetime | None = None
    last_worker: str | None = None
    last_result: dict[str, Any] | None = None
    last_error: str | None = None
    runs: int = 0


_LAST_RUN = (
    "last_started_at",
    "last_finished_at",
    "last_worker",
    "last_result",
    "last_error",
    "runs",
)


@router.get("/jobs")
def list_jobs(_: FleetReader, context: ContextDep) -> list[JobPublic]:
    """Every scheduled job, how often it runs, and its last run."""
    with context.database.unit_of_work(write=False) as session:
        runs = {row.name: row for row in job_status(session)}
    return [
        JobPublic(
            name=job.name,
            every_s=int(job.every.total_seconds()),
            **(runs[job.name].model_dump(include=set(_LAST_RUN)) if job.name in runs else {}),
        )
        for job in jobs(context)
    ]
