"""Running the device agent for real (`tabard agent --state DIR run`) and reading what reached
the server's database, for the end-to-end tests."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlmodel import Session, col, select

from mdm_server.audit.models import AuditEvent
from mdm_server.config import Settings
from mdm_server.db import Database
from tests.e2e.harness import Tabard
from tests.support import wait_for

T = TypeVar("T")


def answering(path: Path) -> bool:
    """Whether an agent is listening on the socket at `path` (a killed agent leaves the file)."""
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


@contextmanager
def agent_running(tabard: Tabard, state: Path) -> Iterator[subprocess.Popen[str]]:
    """`tabard agent --state STATE run` until the block ends (SIGTERM), or the test kills it.
    Its log goes to `agent.log` beside the state directory."""
    log_path = state.parent / "agent.log"
    with log_path.open("a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tabard", "agent", "--state", str(state), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=tabard.env(),
        )
    try:
        wait_for(lambda: answering(state / "agent.sock") or process.poll() is not None, "the agent")
        assert process.poll() is None, log_path.read_text()
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def read_database(tabard: Tabard, query: Callable[[Session], T]) -> T:
    """`query` run against the install's database, read-only."""
    settings = Settings(data_dir=tabard.root / "data", database_url=tabard.database_url)
    database = Database.from_settings(settings)
    try:
        with database.unit_of_work(write=False) as session:
            return query(session)
    finally:
        database.dispose()


def audit_trail(tabard: Tabard) -> list[AuditEvent]:
    return read_database(
        tabard,
        lambda session: list(session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()),
    )
