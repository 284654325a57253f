"""Scheduled runs: each job's run happens once however many workers fire it, and is on
record (audited, summarised when quiet, shown by the API)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.context import AppContext
from mdm_server.db import Database, build_engine
from mdm_server.scheduler import Job, exclusive, job_named, jobs, run_job
from mdm_server.scheduler.runner import job_status
from tests.conftest import FakeClock, make_settings
from tests.factories.commands import send
from tests.factories.staff import headers_for
from tests.support import audit_events


class TestScheduledJobs:
    def test_the_expiry_job_expires_commands_and_audits_its_run(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: Any,
        clock: FakeClock,
    ) -> None:
        send(client, admin_headers, enrolled.serial, "request_posture")
        context = app.state.context
        job = job_named(context, "expire_commands")
        assert run_job(context, job) == {"expired": 0}
        clock.advance(hours=2)
        assert run_job(context, job) == {"expired": 1}
        first, second = audit_events(context.database, "scheduler.job_ran")
        assert first.detail == {"job": "expire_commands", "expired": 0, "quiet_runs": 0}
        assert second.detail == {"job": "expire_commands", "expired": 1, "quiet_runs": 0}
        (expired,) = audit_events(context.database, "command.expired")
        assert expired.detail["state_before"] == "queued"

    def test_on_postgresql_one_worker_at_a_time_runs_a_job(
        self, app: FastAPI, backend: str
    ) -> None:
        context = app.state.context
        with (
            exclusive(context, "expire_commands") as first,
            exclusive(context, "expire_commands") as second,
        ):
            assert first
            assert second is (backend != "postgresql")
        with exclusive(context, "expire_commands") as again:
            assert again


QUIET_CLEANUP = {
    "assertion_ids_purged": 0,
    "refresh_tokens_purged": 0,
    "console_sessions_purged": 0,
    "passkey_challenges_purged": 0,
    "sign_in_clients_purged": 0,
    "id_tokens_purged": 0,
    "orphan_apks_removed": 0,
}


class TestRuns:
    def test_quiet_runs_are_counted_and_summarised_hourly(
        self, app: FastAPI, clock: FakeClock
    ) -> None:
        context: AppContext = app.state.context
        job = job_named(context, "cleanup")
        for _ in range(4):
            assert run_job(context, job) == QUIET_CLEANUP
            clock.advance(minutes=20)
        runs = audit_events(context.database, "scheduler.job_ran")
        assert [run.detail["quiet_runs"] for run in runs] == [0, 2]
        with context.database.unit_of_work(write=False) as session:
            (status,) = job_status(session)
        assert (status.name, status.runs, status.quiet_runs) == ("cleanup", 4, 0)
        assert status.last_result == QUIET_CLEANUP

    def test_a_run_is_not_repeated_within_its_interval(
        self, app: FastAPI, clock: FakeClock
    ) -> None:
        context: AppContext = app.state.context
        job = job_named(context, "expire_commands")
        assert run_job(context, job) is not None
        clock.advance(seconds=30)
        assert run_job(context, job) is None
        clock.advance(seconds=30)
        assert run_job(context, job) is not None

    def test_a_failing_job_is_audited_and_does_not_stop_the_next(
        self, app: FastAPI, clock: FakeClock
    ) -> None:
        context: AppContext = app.state.context

        def broken(_context: AppContext, _now: Any) -> dict[str, int]:
            raise RuntimeError("disk on fire")

        job = Job("broken", job_named(context, "cleanup").every, broken)
        assert run_job(context, job) is None
        (failed,) = audit_events(context.database, "scheduler.job_failed")
        assert failed.detail == {"job": "broken", "error": "RuntimeError", "quiet_runs": 0}
        clock.advance(minutes=5)
        assert run_job(context, job_named(context, "cleanup")) is not None

    def test_workers_sharing_a_database_run_each_job_once(
        self, committed_database: Database, tmp_path: Path, clock: FakeClock
    ) -> None:
        """Six workers (each its own engine, as separate processes have) whose timers fire
        together: one runs the job, the others stand down; the same at the next interval."""
        url = committed_database.engine.url.render_as_string(hide_password=False)
        settings = make_settings(tmp_path / "data", database_url=url)
        workers = [
            AppContext.build(settings, database=Database(build_engine(settings)), clock=clock)
            for _ in range(6)
        ]
        try:
            for _ in range(2):
                results = run_together(workers, "expire_commands")
                assert sorted(results, key=lambda r: r is None) == [{"expired": 0}] + [None] * 5
                clock.advance(minutes=1)
            runs = audit_events(committed_database, "scheduler.job_ran")
            assert [run.detail["job"] for run in runs] == ["expire_commands"]  # 2nd one quiet
            with committed_database.unit_of_work(write=False) as session:
                (status,) = job_status(session)
            assert status.runs == 2
        finally:
            for context in workers:
                context.database.dispose()


def run_together(workers: list[AppContext], name: str) -> list[dict[str, int] | None]:
    """Each worker runs the job at the same moment, from a thread of its own."""
    results: list[dict[str, int] | None] = []
    start = threading.Barrier(len(workers))

    def work(context: AppContext) -> None:
        start.wait()
        results.append(run_job(context, job_named(context, name)))

    threads = [threading.Thread(target=work, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


class TestJobsApi:
    def test_it_and_auditors_see_every_job_and_its_last_run(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        context: AppContext = app.state.context
        run_job(context, job_named(context, "cleanup"))
        response = client.get("/api/v1/scheduler/jobs", headers=admin_headers)
        assert response.status_code == 200, response.text
        listed = {job["name"]: job for job in response.json()}
        assert set(listed) == {job.name for job in jobs(context)}
        assert listed["cleanup"]["runs"] == 1
        assert listed["cleanup"]["last_result"] == QUIET_CLEANUP
        assert listed["expire_commands"] == {
            "name": "expire_commands",
            "every_s": 60,
            "last_started_at": None,
            "last_finished_at": None,
            "last_worker": None,
            "last_result": None,
            "last_error": None,
            "runs": 0,
        }
        auditor = client.get("/api/v1/scheduler/jobs", headers=headers_for(app, "auditor"))
        assert auditor.status_code == 200
        officer = client.get("/api/v1/scheduler/jobs", headers=headers_for(app, "officer"))
        assert officer.status_code == 403
