"""The scheduler's jobs, driven by a clock the tests move: offline limits (lock, then
crypto-shred), the enforcement ladder carried out as commands, certificate renewal, enrolment
token expiry and cleanup. How runs are shared between workers and recorded is in
test_scheduler_runs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.x509 import load_pem_x509_certificate
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import col, select

from mdm_server.commands.models import Command
from mdm_server.context import AppContext
from mdm_server.devices.models import DeviceCertificate
from mdm_server.scheduler import job_named, run_job
from mdm_server.secure.models import ContainerKey
from tests.conftest import FakeClock
from tests.factories.commands import open_envelope, sign_receipt, submit_receipt
from tests.factories.devices import SimulatedDevice
from tests.factories.enrolment import create_token
from tests.factories.secure import NEW_PIN, assign, enter, officer_with_pin
from tests.server.test_policies import apply, put_policy
from tests.support import audit_events

APPROPRIATE_USE = {
    "policy_text_version": "2026.2",
    "policy_text": "Policing purposes only.",
    "transaction_types": {"person_search": {"purposes": ["INVESTIGATION"]}},
}
OFFLINE_POLICY = {
    "name": "offline-limits",
    "secure_side": {"offline_grace_hours": 12, "offline_crypto_shred_days": 3},
    "appropriate_use": APPROPRIATE_USE,
}
LADDER_POLICY = {
    "name": "ladder",
    "device": {"warranty_bit_must_be_zero": True, "usb_debugging_allowed": False},
    "appropriate_use": APPROPRIATE_USE,
    "enforcement": {
        "ladders": {
            "critical": [
                {"action": "notify", "after_hours": 0},
                {"action": "block_secure_side", "after_hours": 0},
                {"action": "wipe_secure_side", "after_hours": 24},
            ],
            "medium": [{"action": "lock_device", "after_hours": 2}],
        }
    },
}


@dataclass
class Fleet:
    app: FastAPI
    client: TestClient
    admin: dict[str, str]
    device: SimulatedDevice
    clock: FakeClock

    @property
    def context(self) -> AppContext:
        context: AppContext = self.app.state.context
        return context

    def run(self, name: str) -> dict[str, int] | None:
        return run_job(self.context, job_named(self.context, name))

    def checkin(self, **posture: Any) -> dict[str, Any]:
        response = self.device.checkin(
            self.client, now=self.clock(), posture=self.device.posture(**posture)
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def commands(self) -> list[Command]:
        with self.context.database.unit_of_work(write=False) as session:
            query = select(Command).where(
                col(Command.device_id) == uuid.UUID(str(self.device.device_id))
            )
            return list(session.exec(query.order_by(col(Command.device_seq))).all())

    def keys(self) -> list[ContainerKey]:
        with self.context.database.unit_of_work(write=False) as session:
            query = select(ContainerKey).where(
                col(ContainerKey.device_id) == uuid.UUID(str(self.device.device_id))
            )
            return list(session.exec(query).all())

    def enter_secure_side(self) -> None:
        """An officer's first entry: the device then holds a live container key."""
        officer = officer_with_pin(self.app, self.client, self.admin)
        assign(self.client, self.admin, self.device, officer)
        response = enter(
            self.client,
            self.device,
            officer.collar_number,
            now=self.clock(),
            new_pin=NEW_PIN,
            acknowledge_policy_text_version="2026.2",
        )
        assert response.status_code == 201, response.text


MakeFleet = Callable[[dict[str, Any]], Fleet]


@pytest.fixture
def make_fleet(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> MakeFleet:
    """The enrolled device, checked in, under a fleet policy the test chooses."""

    def make(policy: dict[str, Any]) -> Fleet:
        assert put_policy(client, admin_headers, policy).status_code == 201
        assert apply(client, admin_headers, "fleet", policy["name"]).status_code == 200
        fleet = Fleet(app, client, admin_headers, enrolled, clock)
        fleet.checkin()
        return fleet

    return make


class TestOfflineLimits:
    def test_a_device_offline_past_its_limits_is_locked_then_crypto_shredded(
        self, make_fleet: MakeFleet, clock: FakeClock
    ) -> None:
        fleet = make_fleet(OFFLINE_POLICY)
        fleet.enter_secure_side()
        (key,) = fleet.keys()

        clock.advance(hours=11, minutes=50)  # within the 12-hour offline grace
        assert fleet.run("enforce_offline_limits") == {"locked": 0, "shredded": 0}
        assert fleet.commands() == []

        clock.advance(minutes=20)
        assert fleet.run("enforce_offline_limits") == {"locked": 1, "shredded": 0}
        (lock,) = fleet.commands()
        assert (lock.type, lock.state, lock.requested_by) == (
            "lock_secure_side",
            "queued",
            "scheduler",
        )
        assert "offline since" in (lock.reason or "")
        (passed,) = audit_events(fleet.context.database, "device.offline_limit_passed")
        assert passed.detail["limit"] == "lock_after"
        assert passed.detail["after_minutes"] == 12 * 60
        assert fleet.keys()[0].destroyed_at is None  # locked, not yet shredded

        clock.advance(hours=6)
        assert fleet.run("enforce_offline_limits") == {"locked": 0, "shredded": 0}  # once

        clock.advance(days=3)
        assert fleet.run("enforce_offline_limits") == {"locked": 0, "shredded": 1}
        lock, wipe = fleet.commands()
        assert (wipe.type, wipe.state, wipe.expires_at) == ("wipe_secure_side", "queued", None)
        (destroyed,) = fleet.keys()
        assert destroyed.id == key.id
        assert destroyed.destroyed_at == clock() and destroyed.wrapped is None
        assert "crypto-shred" in (destroyed.destroyed_reason or "")

        clock.advance(hours=1)
        assert fleet.run("enforce_offline_limits") == {"locked": 0, "shredded": 0}  # once

        # Back online: told its key is gone, and handed the wipe (the lock has expired).
        assert fleet.run("expire_commands") == {"expired": 1}
        answer = fleet.checkin()
        assert answer["container_key_id"] is None
        claims = [
            open_envelope(
                fleet.client, envelope, device_id=str(fleet.device.device_id), now=clock()
            )
            for envelope in answer["commands"]
        ]
        assert [c["type"] for c in claims] == ["wipe_secure_side"]
        assert fleet.commands()[0].state == "expired"

    def test_a_device_that_keeps_checking_in_is_left_alone(
        self, make_fleet: MakeFleet, clock: FakeClock
    ) -> None:
        fleet = make_fleet(OFFLINE_POLICY)
        for _ in range(5 * 24):
            clock.advance(hours=1)
            fleet.checkin()
        assert fleet.run("enforce_offline_limits") == {"locked": 0, "shredded": 0}
        assert fleet.commands() == []

    def test_each_absence_is_acted_on_afresh(self, make_fleet: MakeFleet, clock: FakeClock) -> None:
        fleet = make_fleet(OFFLINE_POLICY)
        clock.advance(hours=13)
        assert fleet.run("enforce_offline_limits") == {"locked": 1, "shredded": 0}
        clock.advance(minutes=1)
        (envelope,) = fleet.checkin()["commands"]
        (lock,) = fleet.commands()
        clock.advance(hours=13)
        # Still not carried out: nothing more is sent while it waits.
        assert fleet.run("enforce_offline_limits") == {"locked": 0, "shredded": 0}

        receipt = sign_receipt(fleet.device, envelope, command_id=str(lock.id), now=clock())
        response = submit_receipt(fleet.client, fleet.device, str(lock.id), receipt, now=clock())
        assert response.status_code == 200, response.text
        fleet.checkin()
        clock.advance(hours=13)
        assert fleet.run("enforce_offline_limits") == {"locked": 1, "shredded": 0}
        assert [(c.type, c.state) for c in fleet.commands()] == [
            ("lock_secure_side", "succeeded"),
            ("lock_secure_side", "queued"),
        ]

    def test_without_a_shred_limit_the_device_is_only_locked(
        self, make_fleet: MakeFleet, clock: FakeClock
    ) -> None:
        policy = {**OFFLINE_POLICY, "secure_side": {"offline_grace_hours": 4}}
        fleet = make_fleet(policy)
        fleet.enter_secure_side()
        clock.advance(days=30)
        assert fleet.run("enforce_offline_limits") == {"locked": 1, "shredded": 0}
        assert [c.type for c in fleet.commands()] == ["lock_secure_side"]
        assert fleet.keys()[0].destroyed_at is None


class TestLadder:
    def test_due_actions_are_carried_out_once_and_never_as_a_full_wipe(
        self, make_fleet: MakeFleet, clock: FakeClock
    ) -> None:
        fleet = make_fleet(LADDER_POLICY)
        fleet.enter_secure_side()
        fleet.checkin(warranty_bit=1)  # tampering: critical

        did = fleet.run("evaluate_compliance")
        assert did is not None
        assert (did["actions_carried_out"], did["notified"]) == (1, 1)
        (block,) = fleet.commands()
        assert (block.type, block.requested_by) == ("lock_secure_side", "scheduler")
        assert "block_secure_side" in (block.reason or "")
        (notified,) = audit_events(fleet.context.database, "enforcement.notified")
        assert notified.detail["rules"] == ["device.warranty_bit_must_be_zero"]

        clock.advance(minutes=5)
        did = fleet.run("evaluate_compliance")
        assert did is not None and did["actions_carried_out"] == did["notified"] == 0

        clock.advance(hours=24)
        did = fleet.run("evaluate_compliance")
        assert did is not None and did["actions_carried_out"] == 1
        assert [c.type for c in fleet.commands()] == ["lock_secure_side", "wipe_secure_side"]
        assert fleet.keys()[0].destroyed_at == clock()
        carried = audit_events(fleet.context.database, "enforcement.carried_out")
        assert [e.detail["action"] for e in carried] == ["block_secure_side", "wipe_secure_side"]
        assert all(c.type != "wipe_device" for c in fleet.commands())

    def test_a_device_that_recovers_before_the_step_is_not_acted_on(
        self, make_fleet: MakeFleet, clock: FakeClock
    ) -> None:
        fleet = make_fleet(LADDER_POLICY)
        fleet.checkin(usb_debugging=True)  # medium: lock_device after 2 hours
        clock.advance(hours=1)
        fleet.checkin(usb_debugging=False)
        clock.advance(hours=2)
        did = fleet.run("evaluate_compliance")
        assert did is not None and did["actions_carried_out"] == 0
        assert fleet.commands() == []

        fleet.checkin(usb_debugging=True)
        clock.advance(hours=2)
        did = fleet.run("evaluate_compliance")
        assert did is not None and did["actions_carried_out"] == 1
        assert [c.type for c in fleet.commands()] == ["lock_device"]


def public_key(certificate: DeviceCertificate) -> Any:
    return load_pem_x509_certificate(certificate.certificate_pem.encode()).public_key()


class TestHousekeeping:
    def test_certificates_are_renewed_before_they_lapse(
        self,
        app: FastAPI,
        client: TestClient,
        enrolled: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        context: AppContext = app.state.context
        renew = job_named(context, "renew_device_certificates")
        assert run_job(context, renew) == {"renewed": 0}
        clock.advance(days=340)  # inside the 30-day window of a 365-day certificate
        assert run_job(context, renew) == {"renewed": 1}
        clock.advance(hours=2)
        assert run_job(context, renew) == {"renewed": 0}
        with context.database.unit_of_work(write=False) as session:
            first, second = session.exec(
                select(DeviceCertificate).order_by(col(DeviceCertificate.not_after))
            ).all()
        assert public_key(first) == public_key(second)  # the same device key, certified again
        assert second.not_after > first.not_after and second.revoked_at is None
        (renewed,) = audit_events(context.database, "device.certificate_renewed")
        assert renewed.detail["certificate"] == second.serial_number

        clock.advance(days=30)  # past the first certificate's end: the device still gets in
        assert enrolled.checkin(client, now=clock()).status_code == 200

    def test_enrolment_token_expiry_is_put_on_record_once(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], clock: FakeClock
    ) -> None:
        context: AppContext = app.state.context
        token = create_token(client, admin_headers, expires_in_s=3600, label="batch 7")
        revoked = create_token(client, admin_headers, expires_in_s=3600)
        response = client.post(
            f"/api/v1/enrolment-tokens/{revoked['id']}/revoke", headers=admin_headers
        )
        assert response.status_code == 200, response.text
        job = job_named(context, "expire_enrolment_tokens")
        assert run_job(context, job) == {"expired": 0}
        clock.advance(hours=2)
        assert run_job(context, job) == {"expired": 1}
        clock.advance(hours=1)
        assert run_job(context, job) == {"expired": 0}
        (event,) = audit_events(context.database, "enrolment.token_expired")
        assert (event.target_id, event.detail["label"]) == (token["id"], "batch 7")
