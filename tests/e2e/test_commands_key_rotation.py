"""Rotating the command-signing key on a running system, end to end: a real `tabard serve`, an
enrolled agent long-polling it, and `tabard keys rotate command-signing` run beside them.
Commands run before, during and after a rotation, each delivered once; an agent that was off
through two rotations follows the chain of handovers when it comes back; and on PostgreSQL
two server processes over one database and data directory both switch without a restart."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.databases import PostgresDatabases
from tests.e2e.agents import agent_running, audit_trail
from tests.e2e.harness import Tabard, free_port
from tests.e2e.test_commands import command
from tests.e2e.test_secure_side import PASSWORD, enrol_assigned_j5
from tests.support import wait_for

pytestmark = pytest.mark.e2e


def rotate(tabard: Tabard) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(
        tabard.run("keys", "rotate", "command-signing", "--json").stdout
    )
    return shown


def held_signer(state: Path) -> str:
    """The SHA-256 fingerprint of the command-signing certificate the agent trusts."""
    pem = (state / "command-signing.pem").read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def run_command(tabard: Tabard, device_id: str, command_type: str) -> dict[str, Any]:
    """Send a command and wait for its receipt."""
    (queued,) = json.loads(
        tabard.run("commands", "send", device_id, command_type, "--json").stdout
    )["commands"]
    return wait_for(
        lambda: (c := command(tabard, queued["id"]))["state"] in ("succeeded", "failed") and c,
        f"the receipt for {command_type}",
        timeout=60,
    )


def ready(tabard: Tabard) -> int:
    return httpx.get(f"{tabard.url}/api/v1/ready", timeout=10).status_code


def published(tabard: Tabard) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{tabard.url}/api/v1/ca", timeout=10).json()
    return answer


def fingerprint_of(pem: str) -> str:
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def test_commands_run_before_during_and_after_rotations_while_the_server_runs(
    tabard: Tabard,
) -> None:
    tabard.extra_env["TABARD_CHECKIN_INTERVAL_S"] = "3600"  # only the long poll carries them
    tabard.bootstrap("admin", PASSWORD)
    with tabard.serving():
        tabard.login("admin", PASSWORD)
        state = enrol_assigned_j5(tabard)
        device_id = str(json.loads((state / "enrolment.json").read_text())["device_id"])
        first_signer = held_signer(state)
        results = []
        with agent_running(tabard, state):
            results.append(run_command(tabard, device_id, "request_posture"))  # before

            # During: a command queued while the rotation is being made.
            rotated: list[dict[str, Any]] = []
            rotating = threading.Thread(target=lambda: rotated.append(rotate(tabard)))
            rotating.start()
            results.append(run_command(tabard, device_id, "clear_pin_lockout"))
            rotating.join(timeout=120)
            (first,) = rotated
            assert first["previous_sha256"] == first_signer
            assert ready(tabard) == 200  # the rotation changed no file the server loaded

            results.append(run_command(tabard, device_id, "lock_device"))  # after
            assert held_signer(state) == first["sha256"]

        # Offline through two rotations: the agent follows first -> second -> third.
        second, third = rotate(tabard), rotate(tabard)
        assert second["previous_sha256"] == first["sha256"]
        assert third["previous_sha256"] == second["sha256"]
        document = published(tabard)
        assert fingerprint_of(document["command_certificate"]) == third["sha256"]
        assert len(document["command_handovers"]) == 3
        with agent_running(tabard, state):
            results.append(run_command(tabard, device_id, "request_posture"))
            assert held_signer(state) == third["sha256"]
        assert ready(tabard) == 200

    assert [(r["type"], r["state"], r["deliveries"]) for r in results] == [
        ("request_posture", "succeeded", 1),
        ("clear_pin_lockout", "succeeded", 1),
        ("lock_device", "succeeded", 1),
        ("request_posture", "succeeded", 1),
    ]
    trail = audit_trail(tabard)
    assert [e.detail["generation"] for e in trail if e.action == "keys.rotated"] == [1, 2, 3]
    assert not [e for e in trail if "refused" in e.action]


@pytest.fixture
def shared_database(postgres: PostgresDatabases | None) -> Iterator[str]:
    if postgres is None:
        pytest.skip("set TABARD_TEST_DATABASE_URL: several workers need PostgreSQL")
    url = postgres.create()
    yield url
    postgres.drop(url)


def test_every_server_process_signs_with_the_new_key_without_a_restart(
    shared_database: str, tmp_path: Path
) -> None:
    polled_port = free_port()
    common = {
        "TABARD_CHECKIN_INTERVAL_S": "3600",
        "TABARD_PUBLIC_URL": f"http://127.0.0.1:{polled_port}",
    }
    polled = Tabard(tmp_path, database_url=shared_database, port=polled_port, extra_env=common)
    queuing = Tabard(tmp_path, database_url=shared_database, extra_env=common)
    queuing.bootstrap("admin", PASSWORD)
    with queuing.serving(), polled.serving():
        queuing.run(
            "login",
            "--server",
            queuing.url,
            "--username",
            "admin",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        state = enrol_assigned_j5(queuing)
        device_id = str(json.loads((state / "enrolment.json").read_text())["device_id"])
        with agent_running(queuing, state):
            assert run_command(queuing, device_id, "request_posture")["state"] == "succeeded"
            rotation = rotate(queuing)
            for worker in (queuing, polled):
                document = published(worker)
                assert fingerprint_of(document["command_certificate"]) == rotation["sha256"]
                assert len(document["command_handovers"]) == 1
                assert ready(worker) == 200
            done = run_command(queuing, device_id, "clear_pin_lockout")
            assert (done["state"], done["deliveries"]) == ("succeeded", 1)
            assert held_signer(state) == rotation["sha256"]
