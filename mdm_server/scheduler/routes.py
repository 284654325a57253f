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
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_worker: str | None
    last_result: dict[str, Any] | None
    last_error: str | None
    runs: int


@router.get("/jobs")
def list_jobs(_: FleetReader, context: ContextDep) -> list[JobPublic]:
    """Every scheduled job, how often it runs, and its last run (never run: no times)."""
    with context.database.unit_of_work(write=False) as session:
        runs = {row.name: row for row in job_status(session)}
    answer = []
    for job in jobs(context):
        row = runs.get(job.name)
        answer.append(
            JobPublic(
                name=job.name,
                every_s=int(job.every.total_seconds()),
                last_started_at=row.last_started_at if row else None,
                last_finished_at=row.last_finished_at if row else None,
                last_worker=row.last_worker if row else None,
                last_result=row.last_result if row else None,
                last_error=row.last_error if row else None,
                runs=row.runs if row else 0,
            )
        )
    return answer
