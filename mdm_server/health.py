"""Liveness, readiness and metrics: what load balancers and Prometheus ask."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import APIRouter, Response
from sqlalchemy import text

from mdm_server import scrape
from mdm_server.deps import ContextDep, MetricsAccess, PublicAccess
from mdm_server.errors import ServiceUnavailableError, error_responses
from mdm_server.migrate import current_revision, head_revision

if TYPE_CHECKING:
    from mdm_server.context import AppContext

log = logging.getLogger("tabard.health")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
router = APIRouter(prefix="/api/v1", tags=["health"])
metrics_router = APIRouter(tags=["health"])


@router.get("/health")
def health(_: PublicAccess) -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready", responses=error_responses(503))
def ready(context: ContextDep, _: PublicAccess) -> dict[str, str]:
    """Readiness: the database answers, its schema is current, and the keys the server
    loaded are still in place and valid."""
    try:
        with context.database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            revision = current_revision(connection)
    except Exception:
        raise ServiceUnavailableError("database unreachable", code="database_unreachable") from None
    head = head_revision()
    if revision != head:
        raise ServiceUnavailableError(
            f"database schema is at {revision}, this server needs {head}: run `tabard db upgrade`",
            code="schema_out_of_date",
        )
    problems = key_problems(context)
    if problems:
        # Which file, and what is wrong with it, goes to the operator's log, not to whoever
        # asks: this endpoint is public.
        for problem in problems:
            log.error("not ready: %s", problem)
        raise ServiceUnavailableError(
            "a key the server loaded is missing, changed or expired; the server log says which",
            code="keys_unavailable",
        )
    return {"status": "ready", "schema": revision or ""}


def key_problems(context: AppContext) -> list[str]:
    """The server's keys as loaded still stand: their files are in place and unchanged, and
    the device CA's certificate has not expired."""
    context.checkpoint_signer()  # a rotated checkpoint key is taken up, not a problem
    problems = context.keys.problems() + context.master_key.problems()
    problems.extend(context.command_signer.problems())
    problems.extend(context.cas.problems())
    expires = context.ca.certificate.not_valid_after_utc
    if context.clock() >= expires:
        problems.append(f"the device CA certificate expired at {expires.isoformat()}")
    return problems


@metrics_router.get(
    "/metrics",
    response_class=Response,
    responses={**error_responses(401, 404), 200: {"content": {CONTENT_TYPE: {}}}},
)
def metrics_scrape(context: ContextDep, _: MetricsAccess) -> Response:
    """Every metric in the Prometheus text format, for Prometheus with the metrics token
    (docs/operations.md, "Metrics")."""
    return Response(scrape.exposition(context), media_type=CONTENT_TYPE)
