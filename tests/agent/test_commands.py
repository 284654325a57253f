"""The agent's command executor: it runs only envelopes the server signed for this device and
still current, runs each once, and returns receipts the server verifies."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from device_agent.agent import Agent
from device_agent.executor import poll_once
from device_agent.state import PLATFORM_FILE
from mdm_server.crypto.command_signing import CommandSigner, EnvelopeClaims
from tests.agent.test_secure_side import Device, personal_side, run, work_profile
from tests.factories.commands import send
from tests.factories.staff import headers_for


def command_state(device: Device, command_id: str) -> dict[str, Any]:
    response = device.client.get(f"/api/v1/commands/{command_id}", headers=device.admin)
    assert response.status_code == 200, response.text
    return dict(response.json())


def envelope(device: Device, signer: CommandSigner, **changes: Any) -> str:
    """An envelope for a wipe, signed by `signer`, with `changes` to its claims."""
    now = device.clock()
    claims: dict[str, Any] = {
        "device_id": uuid.UUID(device.state.enrolment().device_id),
        "command_id": uuid.uuid4(),
        "seq": 1,
        "type": "wipe_secure_side",
        "params": {},
        "issued_at": now,
        "not_before": now,
        "expires_at": now + timedelta(minutes=2),
        **changes,
    }
    return signer.sign(EnvelopeClaims(**claims))


class TestExecutor:
    def test_a_signed_wipe_runs_and_the_server_verifies_the_receipt(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent: Agent = first_entry(offline_device)
        before = personal_side(offline_device.state)
        assert work_profile(offline_device.state) is not None
        command = send(
            offline_device.client,
            offline_device.admin,
            offline_device.state.enrolment().device_id,
            "wipe_secure_side",
            reason="lost",
        )
        (outcome,) = run(poll_once(agent, wait_s=0))
        assert outcome == {
            "outcome": "ran",
            "command_id": command["id"],
            "type": "wipe_secure_side",
            "result": "succeeded",
        }
        shown = command_state(offline_device, command["id"])
        assert (shown["state"], shown["receipt_verified"]) == ("succeeded", True)
        assert shown["evidence"]["container_deleted"] is True
        assert shown["evidence"]["secure_side_removed"]["removed_user"] == 10
        assert not offline_device.state.path("container.db").exists()
        assert work_profile(offline_device.state) is None
        assert personal_side(offline_device.state) == before

    def test_forged_expired_and_other_device_envelopes_are_refused_and_never_run(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent: Agent = first_entry(offline_device)
        real = offline_device.app.state.context.command_signer
        forger = CommandSigner(
            ec.generate_private_key(ec.SECP256R1()), real.certificate_pem, issuer=real.issuer
        )
        now = offline_device.clock()
        envelopes = {
            "bad_signature": envelope(offline_device, forger),
            "expired": envelope(
                offline_device,
                real,
                issued_at=now - timedelta(hours=1),
                not_before=now - timedelta(hours=1),
                expires_at=now - timedelta(minutes=5),
            ),
            "other_device": envelope(offline_device, real, device_id=uuid.uuid4()),
            "not_yet_valid": envelope(
                offline_device,
                real,
                not_before=now + timedelta(hours=1),
                expires_at=now + timedelta(hours=2),
            ),
        }
        tampered = envelope(offline_device, real).split(".")
        tampered[1] = tampered[1][:-4] + ("AAAA" if tampered[1][-4:] != "AAAA" else "BBBB")
        envelopes["bad_signature_tampered"] = ".".join(tampered)

        async def deliver() -> list[dict[str, Any]]:
            async with agent.client() as client:
                return await agent.executor.run(list(envelopes.values()), client)

        outcomes = run(deliver())
        assert [o["outcome"] for o in outcomes] == ["refused"] * len(envelopes)
        reasons = [o["reason"] for o in outcomes]
        assert reasons[:4] == ["bad_signature", "expired", "other_device", "not_yet_valid"]
        assert reasons[4] in ("bad_signature", "malformed")
        assert offline_device.state.path("container.db").exists()
        assert work_profile(offline_device.state) is not None
        assert agent.executor.journal.entries == {}
        refused = [e for e in agent.outbox.pending() if e.type == "command.refused"]
        assert len(refused) == len(envelopes)

    def test_a_command_delivered_twice_runs_once(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent: Agent = first_entry(offline_device)
        real = offline_device.app.state.context.command_signer
        sealed = envelope(offline_device, real, type="clear_pin_lockout")

        async def deliver() -> list[dict[str, Any]]:
            async with agent.client() as client:
                return await agent.executor.run([sealed, sealed], client)

        outcomes = run(deliver())
        assert [o["outcome"] for o in outcomes] == ["ran", "repeated"]
        executed = [e for e in agent.outbox.pending() if e.type == "command.executed"]
        assert len(executed) == 1

    def test_a_cancelled_command_is_never_executed(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent: Agent = first_entry(offline_device)
        command = send(
            offline_device.client,
            offline_device.admin,
            offline_device.state.enrolment().device_id,
            "wipe_device",
            reason="reported stolen",
        )
        cancelled = offline_device.client.post(
            f"/api/v1/commands/{command['id']}/cancel",
            json={"reason": "refused: the officer has it in hand"},
            headers=offline_device.admin,
        )
        assert cancelled.json()["state"] == "cancelled"
        assert run(poll_once(agent, wait_s=0)) == []
        assert run(agent.check_in())["commands"] == []
        assert work_profile(offline_device.state) is not None
        assert agent.executor.journal.entries == {}
        assert command_state(offline_device, command["id"])["state"] == "cancelled"

    def test_a_remote_lock_is_saved_and_survives_an_agent_restart(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent: Agent = first_entry(offline_device)
        saved = offline_device.state.path(PLATFORM_FILE)
        assert json.loads(saved.read_text())["device"]["locked"] is False
        command = send(
            offline_device.client,
            offline_device.admin,
            offline_device.state.enrolment().device_id,
            "lock_device",
        )
        (outcome,) = run(poll_once(agent, wait_s=0))
        assert (outcome["command_id"], outcome["result"]) == (command["id"], "succeeded")
        assert json.loads(saved.read_text())["device"]["locked"] is True
        agent.close()
        restarted = offline_device.agent()
        try:
            assert restarted.platform.device.locked is True  # type: ignore[attr-defined]
        finally:
            restarted.close()

    def test_the_clipboard_cleared_on_leaving_is_saved_cleared(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent: Agent = first_entry(offline_device)
        agent.platform.device.set_clipboard("PNC: Sam Example, 1990-01-31")  # type: ignore[attr-defined]
        agent.keep_platform()
        run(agent.leave())
        saved = json.loads(offline_device.state.path(PLATFORM_FILE).read_text())["device"]
        assert saved["clipboard"] is None

    def test_an_approved_full_wipe_resets_the_device_and_ends_its_enrolment(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent: Agent = first_entry(offline_device)
        photo = "/data/local/tmp/holiday.jpg"  # something of the officer's own
        agent.platform.device.fs.write(photo, b"\xff\xd8", mode=0o644, mtime=1_700_000_000)  # type: ignore[attr-defined]
        agent.keep_platform()
        assert photo in personal_side(offline_device.state)["files"]
        device_id = offline_device.state.enrolment().device_id
        command = send(
            offline_device.client,
            offline_device.admin,
            device_id,
            "wipe_device",
            reason="stolen; officer cannot recover it",
        )
        assert command["state"] == "pending_approval"
        assert run(poll_once(agent, wait_s=0)) == []  # nothing runs before a second approval
        second = headers_for(offline_device.app, "it_admin")
        approved = offline_device.client.post(
            f"/api/v1/commands/{command['id']}/approve", headers=second
        )
        assert approved.status_code == 200, approved.text

        (outcome,) = run(poll_once(agent, wait_s=0))
        assert (outcome["type"], outcome["result"]) == ("wipe_device", "succeeded")
        shown = command_state(offline_device, command["id"])
        assert (shown["state"], shown["receipt_verified"]) == ("succeeded", True)
        assert shown["evidence"]["factory_reset"] is True
        detail = offline_device.client.get(
            f"/api/v1/devices/{device_id}", headers=offline_device.admin
        ).json()
        assert detail["state"] == "wiped"
        assert detail["certificates"] and all(c["revoked_at"] for c in detail["certificates"])

        wiped = json.loads(offline_device.state.path(PLATFORM_FILE).read_text())["device"]
        assert [user["id"] for user in wiped["users"]] == [0]
        assert wiped["settings"]["global"]["adb_enabled"] == "0"
        left = [path for path, entry in wiped["files"].items() if entry["mode"][:5] == "0o100"]
        assert left == [], "no regular file survives a reset"
        assert agent.executor.reset_reported
        agent.forget()
        assert not offline_device.state.path("enrolment.json").exists()
        assert not offline_device.state.path("container.db").exists()
