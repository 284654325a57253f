"""Prometheus metrics (docs/operations.md, "Metrics"): what the server counts as it works, and
what it reads from the database when scraped.

Counters and histograms live in this process (or, with several workers, in files under
PROMETHEUS_MULTIPROC_DIR, which `tabard serve --workers N` sets before the workers start, so
a scrape of any worker adds up all of them). Figures that are state rather than events (the
audit log's size, the latest checkpoint's age, open commands, devices not seen, database
connections) are read when `/metrics` is scraped.

No label ever holds a device, an officer, a search subject or any other identifier: only
route templates, types, states and reasons, each from a short fixed list."""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import col, select

if TYPE_CHECKING:
    from mdm_server.context import AppContext

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
NOT_SEEN_AFTER = timedelta(hours=24)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_DELIVERY_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)

# The metrics this process counts. They are registered in a registry of their own, never
# Prometheus's default one, and exposed only through `exposition`.
_OWN = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "tabard_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=_OWN,
)
REQUEST_SECONDS = Histogram(
    "tabard_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
    registry=_OWN,
)
CHECKINS = Counter(
    "tabard_checkins", "Device check-ins accepted, by the device's compliance after it.",
    ["compliance"], registry=_OWN,
)  # fmt: skip
ENROLMENTS = Counter("tabard_enrolments", "Devices enrolled.", registry=_OWN)
COMMANDS = Counter(
    "tabard_commands",
    "Commands reaching a state (queued, pending_approval, delivered, succeeded, failed, "
    "cancelled, expired), by type.",
    ["type", "state"],
    registry=_OWN,
)
DELIVERY_SECONDS = Histogram(
    "tabard_command_delivery_seconds",
    "From a command being queued to its device's receipt, by type.",
    ["type"],
    buckets=_DELIVERY_BUCKETS,
    registry=_OWN,
)
LONG_POLLS = Gauge(
    "tabard_long_polls_held", "Device long polls held open now.", registry=_OWN,
    multiprocess_mode="livesum",
)  # fmt: skip
SECURE_ENTRIES = Counter(
    "tabard_secure_entries",
    "Entries to the secure side: opened, or refused and why.",
    ["outcome", "reason"],
    registry=_OWN,
)
TRANSACTIONS = Counter(
    "tabard_transactions", "Police transactions, by type and outcome.", ["type", "outcome"],
    registry=_OWN,
)  # fmt: skip
AUDIT_EVENTS = Counter("tabard_audit_events", "Audit events appended.", registry=_OWN)
JOB_RUNS = Counter(
    "tabard_scheduler_runs", "Scheduled job runs, by job and outcome (ok, failed).",
    ["job", "outcome"], registry=_OWN,
)  # fmt: skip


def route_of(scope: Mapping[str, Any]) -> str:
    """The route template a request matched (`/api/v1/devices/{device_id}`), never its path:
    a path holds identifiers. A request no route matched is `unmatched`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    REQUEST_SECONDS.labels(method, route).observe(seconds)


def command_reached(command_type: str, state: str) -> None:
    COMMANDS.labels(command_type, state).inc()


def command_answered(command_type: str, queued_at: datetime, now: datetime) -> None:
    DELIVERY_SECONDS.labels(command_type).observe(max(0.0, (now - queued_at).total_seconds()))


def token_matches(given: str | None, expected: str) -> bool:
    """Whether an `Authorization: Bearer` value carries the metrics token (constant time)."""
    if not given or not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given.removeprefix("Bearer ").encode(), expected.encode())


class _Process(Collector):
    """This process's own counters (one worker, no multiprocess directory)."""

    def collect(self) -> Iterator[Metric]:
        return iter(_OWN.collect())


class _State(Collector):
    """What is read from the database at each scrape."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def collect(self) -> Iterator[Metric]:
        from mdm_server.audit.models import AuditCheckpoint, AuditHead
        from mdm_server.commands.models import OPEN_STATES, Command
        from mdm_server.devices.models import Device, DeviceState

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
        yield _gauge("tabard_audit_log_size", "Events in the audit log.", size or 0)
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
