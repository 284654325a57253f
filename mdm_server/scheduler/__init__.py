"""Scheduled work inside the server process (APScheduler 3): compliance and the enforcement
ladder, offline limits, command expiry, certificate renewal, enrolment token expiry and
cleanup. `runner` makes each run happen once across workers and puts it on record."""

from mdm_server.scheduler.jobs import job_named, jobs, start_scheduler
from mdm_server.scheduler.runner import Job, exclusive, run_job

__all__ = ["Job", "exclusive", "job_named", "jobs", "run_job", "start_scheduler"]
