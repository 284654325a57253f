"""Prometheus metrics (docs/operations.md, "Metrics"): what the server counts as it works, and
what it reads from the database when scraped.

Counters and histograms live in this process (or, with several workers, in files under
PROMETHEUS_MULTIPROC_DIR, which `tabard serve --workers N` sets before the workers start, so
a scrape of any worker adds up all of them). Figures that are state rather than events are
read from the database when `/metrics` is scraped (mdm_server.scrape). This module imports
nothing of the server's, so anything may count into it.

No label ever holds a device, an officer, a search subject or any other identifier: only
route templates, types, states and reasons, each from a short fixed list."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)

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
ONE_STATEMENT_BATCH = Histogram(
    "tabard_one_statement_batch_size",
    "Quick check-ins and idle polls sent to PostgreSQL together, in one write.",
    buckets=(1, 2, 4, 8, 16, 32, 64),
    registry=_OWN,
)
ONE_STATEMENT_FAILED = Counter(
    "tabard_one_statement_batches_failed",
    "Batches of quick check-ins and idle polls that erred, met a held lock or found no "
    "connection: nothing of them was written, and each took the ordinary path.",
    registry=_OWN,
)
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
