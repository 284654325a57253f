"""Command delivery over the API: signed envelopes, the device's signed receipts, and long
polls held open until a command is queued (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.db import Database
from mdm_server.main import create_app
from tests.conftest import FakeClock, make_settings
from tests.factories.commands import (
    command_of,
    delivered,
    open_envelope,
    poll,
    send,
    sign_receipt,
    submit_receipt,
)
from tests.factories.devices import SimulatedDevice
from tests.factories.enrolment import create_token
from tests.factories.staff import headers_for
from tests.support import audit_events, error_of, wait_for


@pytest.fixture
def second_device(client: TestClient, admin_headers: dict[str, str]) -> SimulatedDevice:
    device = SimulatedDevice()
    response = device.enrol(client, create_token(client, admin_headers)["token"])
    assert response.status_code == 201, response.text
    return device


class TestEnvelopes:
    def test_an_envelope_is_signed_and_names_its_device_command_and_times(
        self, client: TestClient, admin_headers: dict[str, str], enrolled: Any, clock: FakeClock
    ) -> None:
        command = send(client, admin_headers, enrolled.serial, "lock_device")
        (envelope,) = delivered(client, enrolled, clock)
        claims = open_envelope(client, envelope, device_id=enrolled.device_id)
        assert claims["command_id"] == command["id"]
        assert claims["type"] == "lock_device"
        assert claims["params"] == {}
        assert claims["seq"] == command["device_seq"]
        assert claims["nbf"] <= int(clock().timestamp()) < claims["exp"]
        assert claims["exp"] - claims["iat"] <= 120
        assert command_of(client, admin_headers, command["id"])["state"] == "delivered"

    def test_a_delivered_command_goes_again_only_once_its_envelope_lapsed(
        self, client: TestClient, admin_headers: dict[str, str], enrolled: Any, clock: FakeClock
    ) -> None:
        command = send(client, admin_headers, enrolled.serial, "lock_device")
        (first,) = delivered(client, enrolled, clock)
        assert delivered(client, enrolled, clock) == []
        clock.advance(minutes=3)
        (second,) = delivered(client, enrolled, clock)
        assert second != first
        assert command_of(client, admin_headers, command["id"])["deliveries"] == 2

    def test_check_in_carries_the_envelopes_too(
        self, client: TestClient, admin_headers: dict[str, str], enrolled: Any, clock: FakeClock
    ) -> None:
        command = send(client, admin_headers, enrolled.serial, "request_posture")
        answer = enrolled.checkin(client, now=clock()).json()
        (envelope,) = answer["commands"]
        claims = open_envelope(client, envelope, device_id=enrolled.device_id)
        assert claims["command_id"] == command["id"]

    def test_a_device_runs_its_commands_in_the_order_they_were_sent(
        self, client: TestClient, admin_headers: dict[str, str], enrolled: Any, clock: FakeClock
    ) -> None:
        sent = [
            send(client, admin_headers, enrolled.serial, kind)["id"]
            for kind in ("lock_secure_side", "sync_policy", "lock_device")
        ]
        envelopes = delivered(client, enrolled, clock)
        ids = [
            open_envelope(client, e, device_id=enrolled.device_id)["command_id"] for e in envelopes
        ]
        assert ids == sent


class TestReceipts:
    def deliver_one(
        self, client: TestClient, headers: dict[str, str], device: Any, clock: FakeClock
    ) -> tuple[dict[str, Any], str]:
        command = send(client, headers, device.serial, "lock_device")
        (envelope,) = delivered(client, device, clock)
        return command, envelope

    def test_a_verified_receipt_records_the_outcome_and_a_repeat_is_harmless(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: Any,
        clock: FakeClock,
    ) -> None:
        command, envelope = self.deliver_one(client, admin_headers, enrolled, clock)
        receipt = sign_receipt(
            enrolled,
            envelope,
            command_id=command["id"],
            now=clock(),
            result="failed",
            evidence={},
            error="no screen lock to lock",
        )
        first = submit_receipt(client, enrolled, command["id"], receipt, now=clock())
        assert first.json()["state"] == "failed"
        again = submit_receipt(client, enrolled, command["id"], receipt, now=clock())
        assert again.json() == {"command_id": command["id"], "state": "failed", "duplicate": True}
        shown = command_of(client, admin_headers, command["id"])
        assert (shown["state"], shown["error"]) == ("failed", "no screen lock to lock")
        (event,) = audit_events(app.state.context.database, "command.failed")
        assert event.detail["receipt_verified"] is True

    def test_forged_receipts_are_refused_and_change_nothing(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: Any,
        clock: FakeClock,
    ) -> None:
        command, envelope = self.deliver_one(client, admin_headers, enrolled, clock)
        now = clock()
        forgeries = {
            "another key": sign_receipt(
                enrolled,
                envelope,
                command_id=command["id"],
                now=now,
                key=ec.generate_private_key(ec.SECP256R1()),
            ),
            "another envelope": sign_receipt(
                enrolled, envelope + "x", command_id=command["id"], now=now
            ),
            "another command": sign_receipt(
                enrolled, envelope, command_id=str(uuid.uuid4()), now=now
            ),
            "another device": sign_receipt(
                enrolled, envelope, command_id=command["id"], now=now, iss=str(uuid.uuid4())
            ),
            "a made-up result": sign_receipt(
                enrolled, envelope, command_id=command["id"], now=now, result="sort of"
            ),
            "not a JWS": "receipt",
        }
        for name, forged in forgeries.items():
            response = submit_receipt(client, enrolled, command["id"], forged, now=now)
            assert (response.status_code, error_of(response)) == (400, "invalid_receipt"), name
        assert command_of(client, admin_headers, command["id"])["state"] == "delivered"
        refusals = audit_events(app.state.context.database, "command.receipt_refused")
        assert len(refusals) == len(forgeries)

    def test_a_device_cannot_report_on_another_devices_command(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: Any,
        second_device: Any,
        clock: FakeClock,
    ) -> None:
        command, envelope = self.deliver_one(client, admin_headers, enrolled, clock)
        receipt = sign_receipt(second_device, envelope, command_id=command["id"], now=clock())
        response = submit_receipt(client, second_device, command["id"], receipt, now=clock())
        assert (response.status_code, error_of(response)) == (404, "command_not_found")


def hold_a_poll(
    app: FastAPI, client: TestClient, device: SimulatedDevice, clock: FakeClock
) -> tuple[threading.Thread, list[Any]]:
    """A long poll held open in a thread of its own, once the server holds it; its answer
    goes into the list."""
    answers: list[Any] = []
    holder = threading.Thread(
        target=lambda: answers.append(poll(client, device, now=clock(), wait=60))
    )
    holder.start()
    wakeups = app.state.context.wakeups
    wait_for(lambda: wakeups.waiting(uuid.UUID(device.device_id)) == 1, "the poll to wait")
    return holder, answers


class TestLongPoll:
    """Polls held open on a server whose transactions really commit, so a second request can
    queue while the first waits."""

    @pytest.fixture
    def live(
        self, committed_database: Database, tmp_path: Path, clock: FakeClock
    ) -> Iterator[tuple[FastAPI, TestClient, SimulatedDevice]]:
        """The app, a client, and a device enrolled with it."""
        app = create_app(make_settings(tmp_path / "data"), database=committed_database, clock=clock)
        with TestClient(app) as client:
            device = SimulatedDevice()
            token = create_token(client, headers_for(app, "it_admin"))["token"]
            assert device.enrol(client, token).status_code == 201
            yield app, client, device

    def test_a_held_poll_answers_the_moment_a_command_is_queued(
        self, live: tuple[FastAPI, TestClient, SimulatedDevice], clock: FakeClock
    ) -> None:
        app, client, device = live
        holder, answers = hold_a_poll(app, client, device, clock)
        wakeups = app.state.context.wakeups
        sent = send(client, headers_for(app, "it_admin"), device.serial, "lock_secure_side")
        holder.join(timeout=30)
        assert not holder.is_alive(), "the poll was not answered"
        (answer,) = answers
        (envelope,) = answer.json()["commands"]
        claims = open_envelope(client, envelope, device_id=device.device_id, now=clock())
        assert (claims["command_id"], claims["type"]) == (sent["id"], "lock_secure_side")
        assert wakeups.waiting(uuid.UUID(device.device_id)) == 0

    def test_what_a_wake_up_delivers_is_audited_as_the_held_polls_request(
        self,
        live: tuple[FastAPI, TestClient, SimulatedDevice],
        clock: FakeClock,
        committed_database: Database,
    ) -> None:
        app, client, device = live
        holder, answers = hold_a_poll(app, client, device, clock)
        sent = send(client, headers_for(app, "it_admin"), device.serial, "lock_secure_side")
        holder.join(timeout=30)
        assert not holder.is_alive(), "the poll was not answered"
        (delivered_event,) = [
            e
            for e in audit_events(committed_database, "command.delivered")
            if e.detail["command_id"] == sent["id"]
        ]
        assert delivered_event.detail["via"] == "long_poll"
        assert delivered_event.request_id == answers[0].headers["x-request-id"]
        assert delivered_event.source_ip is not None

    def test_an_idle_poll_ends_empty_when_its_wait_runs_out(
        self, live: tuple[FastAPI, TestClient, SimulatedDevice], clock: FakeClock
    ) -> None:
        _, client, device = live
        answer = poll(client, device, now=clock(), wait=1)
        assert (answer.status_code, answer.json()) == (200, {"commands": []})

    def test_a_stop_answers_a_held_poll_at_once_and_every_poll_after(
        self, live: tuple[FastAPI, TestClient, SimulatedDevice], clock: FakeClock
    ) -> None:
        app, client, device = live
        holder, answers = hold_a_poll(app, client, device, clock)
        wakeups = app.state.context.wakeups
        wakeups.stop()  # what SIGTERM to `tabard serve` does first
        holder.join(timeout=30)
        assert not holder.is_alive(), "the poll was not answered"
        for answer in (answers[0], poll(client, device, now=clock(), wait=60)):
            assert answer.status_code == 503
            assert error_of(answer) == "server_stopping"
            assert answer.headers["retry-after"].isdigit()
        assert wakeups.waiting(uuid.UUID(device.device_id)) == 0
        assert poll(client, device, now=clock(), wait=0).status_code == 200  # no wait, no hold
