"""Provisioning runs as IT reviews them: read back from the audit log, where each run's
events were recorded as `tabard provision` worked (`provisioning.<kind>`), grouped by run."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from mdm_server.audit.models import AuditEvent, AuditIndex
from mdm_server.errors import NotFoundError
from mdm_server.provisioning.schemas import DeviceRun, RunDetail, RunSummary, StepRun

KINDS = ("run_started", "device_started", "step", "device_finished", "run_finished")


def _events(
    session: Session,
    kinds: Sequence[str],
    *,
    since: int = 0,
    newest_first: bool = False,
    limit: int | None = None,
) -> list[Any]:
    """Provisioning audit events of these kinds from `since` on, oldest first unless asked."""
    seq = col(AuditEvent.seq)
    return list(
        session.execute(
            select(
                seq,
                col(AuditEvent.occurred_at),
                col(AuditEvent.action),
                col(AuditEvent.actor_name),
                col(AuditEvent.detail),
            )
            .join(AuditIndex, col(AuditIndex.seq) == seq)
            .where(
                col(AuditIndex.action).in_([f"provisioning.{kind}" for kind in kinds]),
                col(AuditIndex.seq) >= since,
            )
            .order_by(seq.desc() if newest_first else seq)
            .limit(limit)
        ).all()
    )


def _summary(started: Any) -> RunSummary:
    """A run as its `run_started` event tells it."""
    return RunSummary(
        run_id=uuid.UUID(str(started.detail["run_id"])),
        started_at=started.occurred_at,
        started_by=started.actor_name or "unknown",
        devices=int(started.detail.get("devices") or 0),
        dry_run=bool(started.detail.get("dry_run")),
    )


def _device(detail: dict[str, Any]) -> str:
    return str(detail.get("device") or detail.get("serial") or "?")


def list_runs(session: Session, *, limit: int) -> list[RunSummary]:
    """The newest runs, each with its devices counted by outcome."""
    started = _events(session, ("run_started",), newest_first=True, limit=limit)
    if not started:
        return []
    runs = {str(row.detail["run_id"]): _summary(row) for row in started}
    since = min(seq for seq, *_ in started)
    for _, occurred_at, action, _, detail in _events(
        session, ("device_finished", "run_finished"), since=since
    ):
        run = runs.get(str(detail.get("run_id")))
        if run is None:
            continue
        if action == "provisioning.run_finished":
            run.finished_at, run.outcome = occurred_at, detail.get("outcome")
        else:
            outcome = str(detail.get("outcome") or "unknown")
            run.results[outcome] = run.results.get(outcome, 0) + 1
    return list(runs.values())


def run_detail(session: Session, run_id: uuid.UUID) -> RunDetail:
    """One run: every device with its result and the outcome of each step."""
    found = [
        row
        for row in _events(session, ("run_started",))
        if str(row.detail.get("run_id")) == str(run_id)
    ]
    if not found:
        raise NotFoundError(f"there is no provisioning run {run_id}")
    start = found[0]
    summary = _summary(start)
    devices: dict[str, DeviceRun] = {}
    for _, occurred_at, action, _, detail in _events(session, KINDS[1:], since=start.seq):
        if str(detail.get("run_id")) != str(run_id):
            continue
        kind = action.removeprefix("provisioning.")
        if kind == "run_finished":
            summary.finished_at, summary.outcome = occurred_at, detail.get("outcome")
            continue
        key = _device(detail)
        device = devices.setdefault(key, DeviceRun(device=key))
        device.serial = detail.get("serial") or device.serial
        device.model = detail.get("model") or device.model
        device.mode = detail.get("mode") or device.mode
        if kind == "step":
            device.steps.append(
                StepRun(
                    step=int(detail.get("step") or 0),
                    key=str(detail.get("step_key") or ""),
                    outcome=str(detail.get("outcome") or ""),
                    message=str(detail.get("message") or ""),
                    ms=detail.get("ms"),
                )
            )
        elif kind == "device_finished":
            device.outcome = detail.get("outcome")
            device.message = str(detail.get("message") or "")
            device.finished_at = occurred_at
            summary.results[str(device.outcome)] = summary.results.get(str(device.outcome), 0) + 1
    return RunDetail(**summary.model_dump(), device_runs=list(devices.values()))
