"""Backup and restore end to end: a backup taken with `tabard backup create` while an enrolled
agent checks in and an officer searches, restored with `tabard backup restore` onto a fresh
data directory and database. Every search acknowledged before the backup began is there, the
audit log verifies, the same agent checks in without enrolling again, and a witness that saw
the log grow after the backup reports the rollback."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mdm_server.devices.models import Device
from tests.databases import PostgresDatabases
from tests.e2e.agents import agent_running, audit_trail, read_database
from tests.e2e.harness import Tabard
from tests.e2e.test_secure_side import COLLAR, PASSWORD, enrol_assigned_j5
from tests.support import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def restored(
    tabard: Tabard, backend: str, tmp_path: Path, postgres: PostgresDatabases | None
) -> Iterator[Tabard]:
    """A second install at the same address, on an empty database of the same backend."""
    url = postgres.create() if backend == "postgresql" and postgres else None
    yield Tabard(tmp_path / "restored", database_url=url, port=tabard.port)
    if url and postgres:
        postgres.drop(url)


class Load:
    """Check-ins and searches, one after another, until stopped; what the server acknowledged."""

    def __init__(self, tabard: Tabard, state: Path) -> None:
        self.tabard, self.agent = tabard, ["agent", "--state", str(state)]
        self.searches: list[str] = []  # transaction ids, in the order acknowledged
        self.checkins = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            if self.tabard.run(*self.agent, "checkin", check=False).returncode == 0:
                self.checkins += 1
            found = self.tabard.run(
                *self.agent,
                "search",
                "person",
                "--surname",
                "Example",
                "--purpose",
                "INVESTIGATION",
                "--incident",
                "INC-20261121-0042",
                "--json",
                check=False,
            )
            if found.returncode == 0:
                self.searches.append(json.loads(found.stdout)["transaction_id"])


class TestBackupAndRestore:
    def test_under_load_restored_the_agent_carries_on_and_a_witness_sees_the_rollback(
        self, tabard: Tabard, restored: Tabard, tmp_path: Path
    ) -> None:
        key = tmp_path / "backup.key"
        backup = tmp_path / "tabard.backup"
        witness = ["audit", "witness", "--server", tabard.url, "--state", str(tmp_path / "w")]
        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            state = enrol_assigned_j5(tabard)
            agent = ["agent", "--state", str(state)]
            public = tabard.run("backup", "keygen", "--out", str(key)).stdout.strip()
            with agent_running(tabard, state):
                tabard.run(
                    *agent,
                    "secure",
                    "enter",
                    "--officer",
                    COLLAR,
                    "--pin-stdin",
                    "--acknowledge",
                    "2026.2",
                    stdin="402917\n583062\n",
                )
                load = Load(tabard, state)
                load.thread.start()
                try:
                    wait_for(lambda: len(load.searches) >= 2, "searches under way")
                    acknowledged = list(load.searches)
                    # A checkpoint in the backup, whenever the scheduler's first falls due: the
                    # restored log must have one for the witness to compare with what it saw.
                    tabard.run("audit", "checkpoint")
                    tabard.run("backup", "create", "--out", str(backup), "--recipient", public)
                    during = len(load.searches) - len(acknowledged)
                    wait_for(
                        lambda: len(load.searches) >= len(acknowledged) + during + 2,
                        "more searches after the backup",
                    )
                finally:
                    load.stop.set()
                    load.thread.join(timeout=120)
            tabard.run("audit", "checkpoint")
            assert tabard.run(*witness, check=False).returncode == 0
            grown = max(e.seq for e in audit_trail(tabard))

        restored.run("backup", "verify", str(backup), "--identity", str(key))
        restored.run("backup", "restore", str(backup), "--identity", str(key))
        restored.run("db", "upgrade")
        verified = json.loads(restored.run("audit", "verify", "--json").stdout)
        kept = audit_trail(restored)
        with restored.serving():
            before_checkin = datetime.now(UTC)
            checked_in = restored.run(*agent, "checkin", check=False)
            seen = restored.run(*witness, check=False)
        device_id = json.loads((state / "enrolment.json").read_text())["device_id"]
        device = read_database(restored, lambda s: s.get(Device, uuid.UUID(device_id)))

        assert load.checkins > 0
        assert verified["ok"] is True
        searched = {
            e.detail.get("transaction_id") for e in kept if e.action == "transaction.person_search"
        }
        assert set(acknowledged) <= searched
        assert max(e.seq for e in kept) < grown
        assert checked_in.returncode == 0, checked_in.stderr
        assert device is not None and device.state == "active"
        assert device.last_seen_at is not None and device.last_seen_at >= before_checkin
        assert seen.returncode == 2, seen.stdout + seen.stderr  # refused: a finding
        assert "REFUSED" in seen.stderr
