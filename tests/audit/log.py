"""Helpers for audit-log tests: writing events, signing checkpoints, tampering like an insider
with database access would (on PostgreSQL, as a superuser who switches triggers off)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi import FastAPI
from sqlalchemy import text
from sqlmodel import Session

from mdm_server.audit import checkpoints
from mdm_server.audit.notes import NoteSigner
from mdm_server.audit.service import Actor, record
from mdm_server.audit.verify import Report, verify
from mdm_server.context import AppContext
from mdm_server.db import Database

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
ORIGIN = "mdm.test/audit"
OFFICER = Actor(type="staff", id="u-7", name="pc.jones", role="officer", source_ip="10.0.0.7")


def fixed_signer() -> NoteSigner:
    return NoteSigner(ORIGIN, ed25519.Ed25519PrivateKey.from_private_bytes(b"\x07" * 32))


def write_events(database: Database, count: int, *, per_unit: int = 3, start: int = 0) -> None:
    for first in range(start, start + count, per_unit):
        with database.unit_of_work() as session:
            for n in range(first, min(first + per_unit, start + count)):
                record(
                    session,
                    actor=OFFICER,
                    action="transaction.search",
                    now=NOW,
                    target_type="person",
                    target_id=f"p{n}",
                    detail={"n": n, "purpose": "INV"},
                )


def checkpoint(database: Database, data_dir: Path, signer: NoteSigner) -> int:
    with database.unit_of_work() as session:
        made = checkpoints.make(session, signer=signer, data_dir=data_dir, now=NOW)
    return made.checkpoint.size


def check(database: Database, data_dir: Path, signer: NoteSigner) -> Report:
    verifier = signer.verifier()
    with database.unit_of_work(write=False) as session:
        return verify(
            session, verifier=verifier, published=checkpoints.published(data_dir, verifier)
        )


def tamper(database: Database, *statements: str, **params: Any) -> None:
    """Run raw SQL as an insider would, with PostgreSQL's append-only triggers bypassed."""
    with database.unit_of_work() as session:
        _bypass_triggers(session)
        for statement in statements:
            session.execute(text(statement), params)


def _bypass_triggers(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL session_replication_role = replica"))


def checkpoint_app(app: FastAPI) -> int:
    """Sign a checkpoint as the app's scheduler would, with the app's own key."""
    context: AppContext = app.state.context
    with context.database.unit_of_work() as session:
        made = checkpoints.make(
            session, signer=context.audit_signer, data_dir=context.settings.data_dir, now=NOW
        )
    return made.checkpoint.size
