"""What `/metrics` answers (docs/operations.md, "Metrics"): the counters of mdm_server.metrics,
and figures that are state rather than events, read from the database at each scrape: the
audit log's size and the latest checkpoint's age, the SIEM feed's backlog, open commands,
devices not seen, database connections."""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import col, select

from mdm_server.audit import siem
from mdm_server.audit.models import AuditCheckpoint, AuditHead
from mdm_server.commands.models import OPEN_STATES, Command
from mdm_server.context import AppContext
from mdm_server.devices.models import Device, DeviceState
from mdm_server.metrics import _OWN, MULTIPROCESS_DIR, NOT_SEEN_AFTER


class _Process(Collector):
    """This process's own counters (one worker, no multiprocess directory)."""

    def collect(self) -> Iterator[Metric]:
        return iter(_OWN.collect())


class _State(Collector):
    """What is read from the database at each scrape."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def collect(self) -> Iterator[Metric]:
        context = self.context
        now = context.clock()
        active = col(Device.state) == DeviceState.active
        stale = now - NOT_SEEN_AFTER
        with context.database.unit_of_work(write=False) as session:
            size = session.exec(select(func.max(col(AuditHead.last_seq)))).one()
            latest, signed = session.exec(
                select(col(AuditCheckpoint.created_at), col(AuditCheckpoint.size))
                .order_by(col(AuditCheckpoint.size).desc())
                .limit(1)
            ).first() or (None, 0)
            open_commands = session.exec(
                select(col(Command.state), func.count())
                .where(col(Command.state).in_(OPEN_STATES))
                .group_by(col(Command.state))
            ).all()
            devices = session.exec(select(func.count()).select_from(Device).where(active)).one()
            unseen = session.exec(
                select(func.count())
                .select_from(Device)
                .where(
                    active,
                    col(Device.last_seen_at).is_(None) | (col(Device.last_seen_at) < stale),
                )
            ).one()
            feed = siem.status(session, context.settings)
        yield _gauge("tabard_audit_log_size", "Events in the audit log.", size or 0)
        if feed is not None:
            yield _gauge(
                "tabard_siem_backlog_events",
                "Audit events the SIEM collector has not yet taken.",
                feed.backlog,
            )
            yield _gauge(
                "tabard_siem_failing_seconds",
                "Seconds the SIEM feed has been failing to deliver (0 while it delivers).",
                (now - feed.failing_since).total_seconds() if feed.failing_since else 0,
            )
        yield _gauge(
            "tabard_audit_checkpoint_size",
            "Events the latest signed checkpoint covers (behind the log's size: waiting for one).",
            signed,
        )
        age = GaugeMetricFamily(
            "tabard_audit_checkpoint_age_seconds",
            "Seconds since the audit log's latest signed checkpoint (absent before the first).",
        )
        if latest is not None:
            age.add_metric([], max(0.0, (now - latest).total_seconds()))
        yield age
        backlog = GaugeMetricFamily(
            "tabard_commands_open", "Commands not yet answered, by state.", labels=["state"]
        )
        counted = dict(open_commands)
        for state in OPEN_STATES:
            backlog.add_metric([str(state)], counted.get(state, 0))
        yield backlog
        yield _gauge("tabard_devices_active", "Devices in service.", devices)
        yield _gauge(
            "tabard_devices_not_seen",
            f"Devices in service not seen for {NOT_SEEN_AFTER.total_seconds() / 3600:.0f} hours.",
            unseen,
        )
        yield from _pool(context)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _pool(context: AppContext) -> Iterator[Metric]:
    """The connection pool's use, where the pool keeps count (SQLite's may not)."""
    pool = context.database.engine.pool
    family = GaugeMetricFamily(
        "tabard_db_pool_connections",
        "Database connections in this process's pool: in use, idle, and the pool's size.",
        labels=["state"],
    )
    for state, reading in (("in_use", "checkedout"), ("idle", "checkedin"), ("size", "size")):
        count = getattr(pool, reading, None)
        if callable(count):
            family.add_metric([state], count())
    yield family


def exposition(context: AppContext) -> bytes:
    """Every metric in the Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROCESS_DIR):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Process())
    registry.register(_State(context))
    return generate_latest(registry)
