"""Commands: queuing, the two-person rule, cancelling, expiry and lost devices, over the API
(SQLite and PostgreSQL). Delivery and receipts are in test_command_delivery."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.commands import service
from mdm_server.commands.models import Command
from tests.conftest import FakeClock
from tests.factories.commands import (
    command_of,
    delivered,
    open_envelope,
    send,
    sign_receipt,
    submit_receipt,
)
from tests.factories.staff import bearer, create_staff, headers_for
from tests.support import audit_events, count, error_of


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
