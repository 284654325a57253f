"""The daily verify_audit_log job: a log that verifies is a quiet run; an edited event fails
the run, which is audited and counted for the TabardAuditLogDoesNotVerify alert."""

from __future__ import annotations

from fastapi import FastAPI

from mdm_server import metrics
from mdm_server.context import AppContext
from mdm_server.scheduler import job_named, run_job
from mdm_server.scheduler.runner import job_status
from tests.audit.log import checkpoint_app, tamper, write_events
from tests.conftest import FakeClock


def failed_runs() -> float:
    return metrics.JOB_RUNS.labels("verify_audit_log", "failed")._value.get()


def test_an_edited_event_fails_the_daily_run(
    app: FastAPI, clock: FakeClock, caplog: object
) -> None:
    context: AppContext = app.state.context
    job = job_named(context, "verify_audit_log")
    write_events(context.database, 12)
    checkpoint_app(app)
    assert run_job(context, job) == {"events": 12, "checkpoints": 1}
    before = failed_runs()

    tamper(
        context.database,
        "UPDATE audit_events SET canonical = replace(canonical, 'INV', 'INX') WHERE seq = 7",
    )
    clock.advance(days=1)
    assert run_job(context, job) is None
    assert failed_runs() == before + 1
    with context.database.unit_of_work(write=False) as session:
        (row,) = [r for r in job_status(session) if r.name == "verify_audit_log"]
    assert row.last_error == "AuditLogDoesNotVerifyError"
    assert "first bad sequence number 7" in str(caplog.text)  # type: ignore[attr-defined]
