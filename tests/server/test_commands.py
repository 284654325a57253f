"""Commands: queuing, the two-person rule, signed envelopes, signed receipts, cancelling,
expiry and lost devices, over the API (SQLite and PostgreSQL)."""

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

from mdm_server.commands import service
from mdm_server.commands.models import Command
from mdm_server.db import Database
from mdm_server.main import create_app
from mdm_server.scheduler import exclusive, job_named, run_job
from tests.conftest import FakeClock, make_settings
from tests.factories.commands import (
    open_envelope,
    poll,
    send,
    sign_receipt,
    submit_receipt,
)
from tests.factories.devices import SimulatedDevice
from tests.factories.enrolment import create_token
from tests.factories.staff import bearer, create_staff, headers_for
from tests.support import audit_events, count, error_of, wait_for


@pytest.fixture
def second_device(client: TestClient, admin_headers: dict[str, str]) -> SimulatedDevice:
    device = SimulatedDevice()
    response = device.enrol(client, create_token(client, admin_headers)["token"])
    assert response.status_code == 201, response.text
    return device


def command_of(client: TestClient, headers: dict[str, str], command_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/commands/{command_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def delivered(client: TestClient, device: SimulatedDevice, clock: FakeClock) -> list[str]:
    response = poll(client, device, now=clock())
    assert response.status_code == 200, response.text
    return list(response.json()["commands"])


class TestSend:
    def test_queues_a_command_and_audits_it(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], enrolled: Any
    ) -> None:
        command = send(client, admin_headers, enrolled.serial, "lock_device", message="Call IT")
        assert (command["state"], command["type"], command["params"]) == (
            "queued",
            "lock_device",
            {"message": "Call IT"},
        )
        assert command["expires_at"] is not None
        (event,) = audit_events(app.state.context.database, "command.requested")
        assert event.detail["command_id"] == command["id"]

    def test_refuses_bad_input_saying_what_to_fix(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], enrolled: Any
    ) -> None:
        def attempt(body: dict[str, Any]) -> tuple[int, str]:
            response = client.post("/api/v1/commands", json=body, headers=admin_headers)
            return response.status_code, error_of(response)

        target = {"device": enrolled.serial}
        assert attempt({"type": "self_destruct", "target": target}) == (400, "unknown_command_type")
        assert attempt({"type": "lock_device", "target": target, "params": {"colour": 1}}) == (
            400,
            "invalid_command_params",
        )
        assert attempt({"type": "wipe_secure_side", "target": target}) == (400, "reason_required")
        assert attempt({"type": "locate", "target": target}) == (400, "reason_required")
        assert attempt({"type": "lock_device", "target": {}}) == (422, "invalid_request")
        assert attempt({"type": "lock_device", "target": {"device": "NOSUCHDEVICE"}}) == (
            404,
            "device_not_found",
        )
        assert attempt({"type": "lock_device", "target": {"group": "nobody-here"}}) == (
            400,
            "no_targets",
        )
        assert count(app.state.context.database, Command) == 0

    def test_a_group_or_a_filter_reaches_every_active_device_in_it(
        self, client: TestClient, admin_headers: dict[str, str], enrolled: Any
    ) -> None:
        group = client.get(f"/api/v1/devices/{enrolled.device_id}", headers=admin_headers).json()[
            "group"
        ]
        body = {"type": "request_posture", "target": {"group": group}}
        batch = client.post("/api/v1/commands", json=body, headers=admin_headers).json()
        assert [c["device_id"] for c in batch["commands"]] == [enrolled.device_id]
        body = {"type": "sync_policy", "target": {"filter": {"model": enrolled.facts["model"]}}}
        batch = client.post("/api/v1/commands", json=body, headers=admin_headers).json()
        assert [c["device_id"] for c in batch["commands"]] == [enrolled.device_id]

    def test_an_identical_open_command_is_not_queued_twice(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], enrolled: Any
    ) -> None:
        first = send(client, admin_headers, enrolled.serial, "lock_secure_side")
        body = {"type": "lock_secure_side", "target": {"device": enrolled.serial}}
        again = client.post("/api/v1/commands", json=body, headers=admin_headers).json()
        assert again["reused"] == [first["id"]]
        assert count(app.state.context.database, Command) == 1

    def test_a_retried_request_with_its_idempotency_key_gets_the_first_answer(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], enrolled: Any
    ) -> None:
        body = {"type": "lock_device", "target": {"device": enrolled.serial}}
        headers = {**admin_headers, "Idempotency-Key": "retry-me-1"}
        first = client.post("/api/v1/commands", json=body, headers=headers).json()
        second = client.post("/api/v1/commands", json=body, headers=headers).json()
        assert first["batch_id"] == second["batch_id"]
        assert [c["id"] for c in first["commands"]] == [c["id"] for c in second["commands"]]
        assert count(app.state.context.database, Command) == 1

    def test_auditors_read_commands_but_cannot_send_them(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], enrolled: Any
    ) -> None:
        command = send(client, admin_headers, enrolled.serial, "lock_device")
        auditor = headers_for(app, "auditor")
        body = {"type": "lock_device", "target": {"device": enrolled.serial}}
        refused = client.post("/api/v1/commands", json=body, headers=auditor)
        assert refused.status_code == 403
        assert command_of(client, auditor, command["id"])["state"] == "queued"
        listed = client.get(
            "/api/v1/commands", params={"device": enrolled.serial}, headers=auditor
        ).json()
        assert [c["id"] for c in listed["items"]] == [command["id"]]
        officer = headers_for(app, "officer")
        assert client.get("/api/v1/commands", headers=officer).status_code == 403


class TestBadRequests:
    def test_what_cannot_be_done_to_a_command_is_refused_saying_why(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: Any,
        clock: FakeClock,
    ) -> None:
        queued = send(client, admin_headers, enrolled.serial, "lock_device")
        second = headers_for(app, "it_admin")
        approve = client.post(f"/api/v1/commands/{queued['id']}/approve", headers=second)
        assert (approve.status_code, error_of(approve)) == (409, "not_pending_approval")
        missing = f"/api/v1/commands/{uuid.uuid4()}"
        for response in (
            client.get(missing, headers=admin_headers),
            client.post(f"{missing}/approve", headers=second),
            client.post(f"{missing}/cancel", headers=admin_headers),
        ):
            assert (response.status_code, error_of(response)) == (404, "command_not_found")
        bad_filters = client.get("/api/v1/commands", params={"state": "done"}, headers=second)
        assert (bad_filters.status_code, error_of(bad_filters)) == (400, "invalid_filter")
        too_long = client.get(
            "/api/v1/device/commands",
            params={"wait": 61},
            headers=enrolled.auth("GET", "/api/v1/device/commands", now=clock()),
        )
        assert too_long.status_code == 422
        receipt = client.post(
            f"/api/v1/device/commands/{queued['id']}/receipt",
            json={"receipt": ""},
            headers=enrolled.auth(
                "POST", f"/api/v1/device/commands/{queued['id']}/receipt", now=clock()
            ),
        )
        assert receipt.status_code == 422
        assert command_of(client, admin_headers, queued["id"])["state"] == "queued"


class TestTwoPersonRule:
    def test_a_full_wipe_waits_for_a_second_it_admin_never_the_requester(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: Any,
        clock: FakeClock,
    ) -> None:
        command = send(client, admin_headers, enrolled.serial, "wipe_device", reason="stolen")
        assert command["state"] == "pending_approval"
        assert delivered(client, enrolled, clock) == []

        alone = client.post(f"/api/v1/commands/{command['id']}/approve", headers=admin_headers)
        assert (alone.status_code, error_of(alone)) == (403, "second_approver_required")
        auditor = client.post(
            f"/api/v1/commands/{command['id']}/approve", headers=headers_for(app, "auditor")
        )
        assert auditor.status_code == 403
        (refusal,) = audit_events(app.state.context.database, "command.approval_refused")
        assert refusal.detail["command_id"] == command["id"]
        assert delivered(client, enrolled, clock) == []

        second = create_staff(app, role="it_admin", username="second-admin")
        approved = client.post(
            f"/api/v1/commands/{command['id']}/approve", headers=bearer(app, second)
        )
        assert approved.status_code == 200, approved.text
        assert (approved.json()["state"], approved.json()["approved_by"]) == (
            "queued",
            "second-admin",
        )
        (envelope,) = delivered(client, enrolled, clock)
        assert open_envelope(client, envelope, device_id=enrolled.device_id)["type"] == (
            "wipe_device"
        )

    def test_a_full_wipe_with_its_receipt_marks_the_device_wiped_and_revokes_it(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: Any,
        clock: FakeClock,
    ) -> None:
        command = send(client, admin_headers, enrolled.serial, "wipe_device", reason="stolen")
        client.post(
            f"/api/v1/commands/{command['id']}/approve", headers=headers_for(app, "it_admin")
        )
        (envelope,) = delivered(client, enrolled, clock)
        receipt = sign_receipt(
            enrolled,
            envelope,
            command_id=command["id"],
            now=clock(),
            evidence={"factory_reset": True},
        )
        recorded = submit_receipt(client, enrolled, command["id"], receipt, now=clock())
        assert recorded.json() == {
            "command_id": command["id"],
            "state": "succeeded",
            "duplicate": False,
        }
        device = client.get(f"/api/v1/devices/{enrolled.device_id}", headers=admin_headers).json()
        assert device["state"] == "wiped"
        assert [c["revocation_reason"] for c in device["certificates"]] == ["wiped"]
        shown = command_of(client, admin_headers, command["id"])
        assert shown["receipt_verified"] and shown["receipt"] == receipt
        assert shown["evidence"] == {"factory_reset": True}
        refused = enrolled.checkin(client, now=clock())
        assert (refused.status_code, error_of(refused)) == (401, "certificate_revoked")


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


class TestCancelAndExpiry:
    def test_a_cancelled_command_is_never_delivered(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: Any,
        clock: FakeClock,
    ) -> None:
        command = send(client, admin_headers, enrolled.serial, "wipe_secure_side", reason="lost")
        cancelled = client.post(
            f"/api/v1/commands/{command['id']}/cancel",
            json={"reason": "found in the station"},
            headers=admin_headers,
        )
        assert cancelled.json()["state"] == "cancelled"
        assert delivered(client, enrolled, clock) == []
        clock.advance(days=30)
        assert delivered(client, enrolled, clock) == []
        again = client.post(
            f"/api/v1/commands/{command['id']}/cancel", headers=headers_for(app, "it_admin")
        )
        assert (again.status_code, error_of(again)) == (409, "command_closed")
        (event,) = audit_events(app.state.context.database, "command.cancelled")
        assert event.detail["cancel_reason"] == "found in the station"

    def test_a_command_in_flight_can_be_cancelled_only_once_its_envelope_lapsed(
        self, client: TestClient, admin_headers: dict[str, str], enrolled: Any, clock: FakeClock
    ) -> None:
        command = send(client, admin_headers, enrolled.serial, "lock_device")
        delivered(client, enrolled, clock)
        early = client.post(f"/api/v1/commands/{command['id']}/cancel", headers=admin_headers)
        assert (early.status_code, error_of(early)) == (409, "command_in_flight")
        assert "wait for its receipt" in early.json()["detail"]
        clock.advance(minutes=4)
        late = client.post(f"/api/v1/commands/{command['id']}/cancel", headers=admin_headers)
        assert late.json()["state"] == "cancelled"
        assert delivered(client, enrolled, clock) == []

    def test_commands_expire_at_their_time_to_live_but_wipes_never_do(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: Any,
        clock: FakeClock,
    ) -> None:
        posture = send(client, admin_headers, enrolled.serial, "request_posture")
        wipe = send(client, admin_headers, enrolled.serial, "wipe_secure_side", reason="lost")
        database = app.state.context.database
        clock.advance(minutes=59)
        with database.unit_of_work() as session:
            assert service.expire_due(session, now=clock()) == 0
        clock.advance(minutes=2)
        with database.unit_of_work() as session:
            assert service.expire_due(session, now=clock()) == 1
        reader = headers_for(app, "auditor")
        assert command_of(client, reader, posture["id"])["state"] == "expired"
        clock.advance(days=365)
        with database.unit_of_work() as session:
            assert service.expire_due(session, now=clock()) == 0
        assert command_of(client, headers_for(app, "auditor"), wipe["id"])["state"] == "queued"
        (expired,) = audit_events(database, "command.expired")
        assert expired.detail["command_id"] == posture["id"]


class TestLostDevice:
    def test_an_officer_reports_their_device_lost_and_it_is_shut_at_once(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: Any,
        clock: FakeClock,
    ) -> None:
        officer = create_staff(app, role="officer")
        client.patch(
            f"/api/v1/devices/{enrolled.device_id}/assignment",
            json={"officer": officer.collar_number},
            headers=admin_headers,
        )
        reported = client.post(
            "/api/v1/me/device/lost", json={"note": "left on a bus"}, headers=bearer(app, officer)
        )
        assert reported.status_code == 200, reported.text
        body = reported.json()
        assert [c["type"] for c in body["commands"]] == ["lock_device", "wipe_secure_side"]
        envelopes = delivered(client, enrolled, clock)
        types = [open_envelope(client, e, device_id=enrolled.device_id)["type"] for e in envelopes]
        assert types == ["lock_device", "wipe_secure_side"]
        device = client.get(f"/api/v1/devices/{enrolled.device_id}", headers=admin_headers).json()
        assert device["lost_at"] is not None
        (event,) = audit_events(app.state.context.database, "device.reported_lost")
        assert event.detail["note"] == "left on a bus"

        found = client.post(f"/api/v1/devices/{enrolled.device_id}/found", headers=admin_headers)
        assert found.json()["lost_at"] is None

    def test_an_officer_without_a_device_is_told_so(self, app: FastAPI, client: TestClient) -> None:
        officer = create_staff(app, role="officer")
        response = client.post("/api/v1/me/device/lost", headers=bearer(app, officer))
        assert (response.status_code, error_of(response)) == (404, "device_not_found")


class TestScheduledJobs:
    def test_the_expiry_job_expires_commands_and_audits_its_run(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: Any,
        clock: FakeClock,
    ) -> None:
        send(client, admin_headers, enrolled.serial, "request_posture")
        context = app.state.context
        job = job_named(context, "expire_commands")
        assert run_job(context, job) == {"expired": 0}
        clock.advance(hours=2)
        assert run_job(context, job) == {"expired": 1}
        first, second = audit_events(context.database, "scheduler.job_ran")
        assert first.detail == {"job": "expire_commands", "expired": 0, "quiet_runs": 0}
        assert second.detail == {"job": "expire_commands", "expired": 1, "quiet_runs": 0}
        (expired,) = audit_events(context.database, "command.expired")
        assert expired.detail["state_before"] == "queued"

    def test_on_postgresql_one_worker_at_a_time_runs_a_job(
        self, app: FastAPI, backend: str
    ) -> None:
        context = app.state.context
        with (
            exclusive(context, "expire_commands") as first,
            exclusive(context, "expire_commands") as second,
        ):
            assert first
            assert second is (backend != "postgresql")
        with exclusive(context, "expire_commands") as again:
            assert again


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
        answers: list[Any] = []
        holder = threading.Thread(
            target=lambda: answers.append(poll(client, device, now=clock(), wait=60))
        )
        holder.start()
        wakeups = app.state.context.wakeups
        wait_for(lambda: wakeups.waiting(uuid.UUID(device.device_id)) == 1, "the poll to wait")
        sent = send(client, headers_for(app, "it_admin"), device.serial, "lock_secure_side")
        holder.join(timeout=30)
        assert not holder.is_alive(), "the poll was not answered"
        (answer,) = answers
        (envelope,) = answer.json()["commands"]
        claims = open_envelope(client, envelope, device_id=device.device_id, now=clock())
        assert (claims["command_id"], claims["type"]) == (sent["id"], "lock_secure_side")
        assert wakeups.waiting(uuid.UUID(device.device_id)) == 0

    def test_an_idle_poll_ends_empty_when_its_wait_runs_out(
        self, live: tuple[FastAPI, TestClient, SimulatedDevice], clock: FakeClock
    ) -> None:
        _, client, device = live
        answer = poll(client, device, now=clock(), wait=1)
        assert (answer.status_code, answer.json()) == (200, {"commands": []})
