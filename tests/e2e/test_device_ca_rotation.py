"""Rotating the device CA on a running system, end to end: a real `tabard serve`, an enrolled
agent long-polling it, and `tabard keys rotate device-ca` run beside them. Commands run
before, during and after the rotation, each delivered once; the renewal job certifies the
device again under the new CA and the agent takes that certificate and carries on; and a
device enrols afterwards with a QR code made before the rotation (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from mdm_server.config import Settings
from mdm_server.context import AppContext
from mdm_server.scheduler.jobs import renew_device_certificates
from tests.e2e.agents import agent_running, audit_trail
from tests.e2e.harness import Tabard, free_port
from tests.e2e.test_commands_key_rotation import (
    fingerprint_of,
    held_signer,
    published,
    ready,
    run_command,
    shared_database,
)
from tests.e2e.test_secure_side import PASSWORD, enrol_assigned_j5
from tests.support import wait_for

pytestmark = pytest.mark.e2e
__all__ = ["shared_database"]  # the fixture: two server processes need one PostgreSQL database


def rotate_device_ca(tabard: Tabard) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(tabard.run("keys", "rotate", "device-ca", "--json").stdout)
    return shown


def renew(tabard: Tabard) -> dict[str, int]:
    """The renewal job, run as whichever node's scheduler holds it would run it (hourly)."""
    settings = Settings(
        data_dir=tabard.root / "data", database_url=tabard.database_url, public_url=tabard.url
    )
    context = AppContext.build(settings)
    try:
        return renew_device_certificates(context, context.clock())
    finally:
        context.database.dispose()


def held(state: Path, name: str) -> str:
    return (state / name).read_text()


def issuer_of(pem: str) -> x509.Name:
    return x509.load_pem_x509_certificate(pem.encode()).issuer


def enrol_with(tabard: Tabard, payload: dict[str, Any], state: Path) -> str:
    """A device enrols with this QR payload; its device id."""
    path = state.parent / f"{state.name}-payload.json"
    path.write_text(json.dumps(payload))
    tabard.run(
        "agent",
        "--state",
        str(state),
        "enrol",
        "--payload",
        str(path),
        "--platform",
        "virtual:SM-T580",
    )
    return str(json.loads((state / "enrolment.json").read_text())["device_id"])


def test_an_agent_carries_on_through_a_device_ca_rotation_and_a_late_device_enrols(
    tabard: Tabard,
) -> None:
    tabard.extra_env["TABARD_CHECKIN_INTERVAL_S"] = "3600"  # only the long poll carries them
    tabard.bootstrap("admin", PASSWORD)
    with tabard.serving():
        tabard.login("admin", PASSWORD)
        state = enrol_assigned_j5(tabard)
        device_id = str(json.loads((state / "enrolment.json").read_text())["device_id"])
        made_before = json.loads(
            tabard.run("tokens", "create", "--group", "response", "--json").stdout
        )["payload"]
        first_ca = fingerprint_of(held(state, "ca.pem"))
        first_certificate = held(state, "device.pem")
        results = []
        with agent_running(tabard, state):
            results.append(run_command(tabard, device_id, "request_posture"))  # before

            # During: a command queued while the rotation is being made.
            rotated: list[dict[str, Any]] = []
            rotating = threading.Thread(target=lambda: rotated.append(rotate_device_ca(tabard)))
            rotating.start()
            results.append(run_command(tabard, device_id, "clear_pin_lockout"))
            rotating.join(timeout=120)
            (rotation,) = rotated
            assert rotation["previous_sha256"] == first_ca
            assert ready(tabard) == 200  # the rotation changed no file the server loaded
            document = published(tabard)
            assert document["sha256"] == rotation["sha256"]
            assert [link["sha256"] for link in document["ca_links"]] == [rotation["sha256"]]

            # After: the envelope's signer is the new CA's; the agent follows the link to it.
            results.append(run_command(tabard, device_id, "lock_device"))
            assert held_signer(state) == rotation["command_signing"]["sha256"]
            assert fingerprint_of(held(state, "ca.pem")) == rotation["sha256"]
            assert held(state, "device.pem") == first_certificate  # the old CA's, still good

            # The renewal job certifies the device again under the new CA; the agent takes
            # the certificate at its next check-in and goes on authenticating with its key.
            assert renew(tabard) == {"renewed": 1}
            results.append(run_command(tabard, device_id, "request_posture"))
            renewed = wait_for(
                lambda: (pem := held(state, "device.pem")) != first_certificate and pem,
                "the agent to keep its renewed certificate",
            )
            new_ca = x509.load_pem_x509_certificate(held(state, "ca.pem").encode())
            assert issuer_of(renewed) == new_ca.subject
            results.append(run_command(tabard, device_id, "lock_device"))
            assert renew(tabard) == {"renewed": 0}  # each device once

        # A device enrolling now, with a QR code that pins the CA replaced since.
        assert made_before["ca_sha256"] == first_ca
        late = tabard.root / "late-agent"
        late_id = enrol_with(tabard, made_before, late)
        assert fingerprint_of(held(late, "ca.pem")) == rotation["sha256"]
        assert issuer_of(held(late, "device.pem")) == new_ca.subject
        fresh = json.loads(tabard.run("tokens", "create", "--group", "response", "--json").stdout)
        assert fresh["payload"]["ca_sha256"] == rotation["sha256"]
        with agent_running(tabard, late):
            results.append(run_command(tabard, late_id, "lock_device"))
        assert ready(tabard) == 200

    assert [(r["type"], r["state"], r["deliveries"]) for r in results] == [
        ("request_posture", "succeeded", 1),
        ("clear_pin_lockout", "succeeded", 1),
        ("lock_device", "succeeded", 1),
        ("request_posture", "succeeded", 1),
        ("lock_device", "succeeded", 1),
        ("lock_device", "succeeded", 1),
    ]
    trail = audit_trail(tabard)
    assert [e.target_id for e in trail if e.action == "keys.rotated"] == [
        "device-ca",
        "command-signing",
    ]
    renewals = [e for e in trail if e.action == "device.certificate_renewed"]
    assert [(str(e.target_id), e.detail["reason"]) for e in renewals] == [(device_id, "ca_rotated")]
    assert not [e for e in trail if "refused" in e.action]


def test_every_server_process_issues_from_the_new_ca_without_a_restart(
    shared_database: str, tmp_path: Path
) -> None:
    first_port = free_port()
    common = {"TABARD_PUBLIC_URL": f"http://127.0.0.1:{first_port}"}
    first = Tabard(tmp_path, database_url=shared_database, port=first_port, extra_env=common)
    second = Tabard(tmp_path, database_url=shared_database, extra_env=common)
    first.bootstrap("admin", PASSWORD)
    with first.serving(), second.serving():
        first.run(
            "login",
            "--server",
            first.url,
            "--username",
            "admin",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        rotation = rotate_device_ca(first)
        for worker in (first, second):
            document = published(worker)
            assert document["sha256"] == rotation["sha256"]
            assert len(document["ca_links"]) == 1
            signer = x509.load_pem_x509_certificate(document["command_certificate"].encode())
            assert (
                fingerprint_of(document["command_certificate"])
                == (rotation["command_signing"]["sha256"])
            )
            assert (
                signer.issuer
                == x509.load_pem_x509_certificate(document["certificate"].encode()).subject
            )
            assert ready(worker) == 200
        # An enrolment through the other process is issued by the new CA.
        token = json.loads(first.run("tokens", "create", "--group", "response", "--json").stdout)[
            "payload"
        ]
        assert token["ca_sha256"] == rotation["sha256"]
        state = tmp_path / "agent"
        device_id = enrol_with(second, {**token, "server": second.url}, state)
        assert fingerprint_of(held(state, "ca.pem")) == rotation["sha256"]
        with agent_running(second, state):
            assert run_command(first, device_id, "request_posture")["state"] == "succeeded"
