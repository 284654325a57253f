"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from mdm_server.deps import ContextDep, PublicAccess
from mdm_server.errors import ServiceUnavailableError, error_responses
from mdm_server.migrate import current_revision, head_revision

router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get("/health")
def health(_: PublicAccess) -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready", responses=error_responses(503))
def ready(context: ContextDep, _: PublicAccess) -> dict[str, str]:
    """Readiness: the database answers and its schema is current."""
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
    return {"status": "ready", "schema": revision or ""}
