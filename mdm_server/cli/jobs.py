"""`tabard jobs`: the server's scheduled jobs and what each did last, over the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rich.text import Text

from mdm_server.cli.accounts import JsonOption, api_errors
from mdm_server.cli.session import StaffClient
from tabard.output import plain, print_json, styled, table, when


def _every(seconds: int) -> str:
    period = timedelta(seconds=seconds)
    if period < timedelta(minutes=1):
        return f"{seconds} s"
    if period % timedelta(hours=1) == timedelta(0):
        return f"{period // timedelta(hours=1)} h"
    return f"{period // timedelta(minutes=1)} min"


def _result(job: dict[str, Any]) -> Text | str:
    if job["last_error"]:
        return styled(f"failed: {job['last_error']}", "red")
    result = job["last_result"] or {}
    done = ", ".join(f"{name.replace('_', ' ')} {plain(n)}" for name, n in result.items() if n)
    if done or job["last_result"] is None:
        return done
    return styled("nothing to do", "dim")


def jobs(json_output: JsonOption = False) -> None:
    """Scheduled jobs: how often each runs, its last run, where, and what it did
    (IT administrators, auditors)."""
    with api_errors():
        answer = StaffClient.from_stored().get("/api/v1/scheduler/jobs")
    if json_output:
        print_json(answer)
        return
    table(
        "Scheduled jobs",
        ["job", "every", "last run", "worker", "runs", "last result"],
        [
            [
                job["name"],
                _every(job["every_s"]),
                when(job["last_started_at"])
                if job["last_started_at"]
                else styled("never", "yellow"),
                job["last_worker"],
                job["runs"],
                _result(job),
            ]
            for job in answer
        ],
    )
