"""The agent's secure side against the server in process: entering, the encrypted container,
a shift offline, and crypto-shred, including of a copy of the state directory taken while the
officer worked offline."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from device_agent.agent import Agent
from device_agent.container import Container
from device_agent.enrolment import enrol
from device_agent.errors import AgentError, RefusedError, ServerError
from device_agent.payload import EnrolmentPayload
from device_agent.platform import open_platform
from device_agent.state import PLATFORM_FILE, AgentState
from tests.factories.enrolment import create_token
from tests.factories.secure import NEW_PIN, officer_with_pin
from tests.server.test_policies import apply, put_policy


def policy(offline_hours: int) -> dict[str, Any]:
    return {
        "name": "shift",
        "secure_side": {"offline_grace_hours": offline_hours, "pin_max_failed_attempts": 3},
        "appropriate_use": {
            "transaction_types": {"person_search": {"purposes": ["INVESTIGATION"]}}
        },
    }


class AgentClock:
    """The device's clock, moved by hand for offline deadlines (the server keeps its own)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def unreachable() -> httpx.MockTransport:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("network is unreachable", request=request)

    return httpx.MockTransport(refuse)


@dataclass
class Device:
    state: AgentState
    app: FastAPI
    client: TestClient
    admin: dict[str, str]
    collar: str
    clock: AgentClock

    def agent(self, state: AgentState | None = None, *, online: bool = True) -> Agent:
        transport = httpx.ASGITransport(app=self.app) if online else unreachable()
        return Agent(state or self.state, transport=transport, clock=self.clock)

    def wipe(self) -> None:
        device_id = self.state.enrolment().device_id
        response = self.client.post(
            f"/api/v1/devices/{device_id}/secure-side/wipe",
            json={"reason": "lost"},
            headers=self.admin,
        )
        assert response.status_code == 200, response.text


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def setup_device(
    app: FastAPI,
    client: TestClient,
    admin: dict[str, str],
    tmp_path: Path,
    offline_hours: int,
    platform: str = "virtual:SM-J530F",
) -> Device:
    assert put_policy(client, admin, policy(offline_hours)).status_code == 201
    assert apply(client, admin, "fleet", "shift").status_code == 200
    officer = officer_with_pin(app, client, admin)
    created = create_token(client, admin, officer=officer.collar_number)
    state = AgentState(tmp_path / "agent")
    run(
        enrol(
            EnrolmentPayload.parse(json.dumps(created["payload"])),
            state=state,
            platform=open_platform(platform, state.directory),
            transport=httpx.ASGITransport(app=app),
        )
    )
    assert officer.collar_number is not None
    return Device(state, app, client, admin, officer.collar_number, AgentClock())


def personal_side(state: AgentState) -> dict[str, Any]:
    """The virtual device's personal-side apps (user 0) and files, as the agent saved them."""
    device = json.loads(state.path(PLATFORM_FILE).read_text())["device"]
    return {"apps": device["installs"]["0"], "files": device["files"]}


def work_profile(state: AgentState) -> dict[str, Any] | None:
    device = json.loads(state.path(PLATFORM_FILE).read_text())["device"]
    return next((user for user in device["users"] if user["id"] != 0), None)


def records_readable(agent: Agent) -> list[dict[str, Any] | None]:
    side = agent.secure.require_open()
    return [side.container.get(record_id) for record_id, _, _ in side.container.records()]


class TestEntry:
    def test_the_container_opens_with_the_servers_key_and_locks_on_leave(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent = first_entry(offline_device)
        side = agent.secure.require_open()
        side.container.put("draft-1", "draft", {"summary": "suspicious van"}, now="t")
        assert side.container.get("draft-1") == {"summary": "suspicious van"}
        run(agent.leave())
        assert agent.secure.open is None
        with pytest.raises(AgentError, match="locked"):
            agent.secure.require_open()
        raw = sqlite3.connect(offline_device.state.path("container.db")).execute(
            "SELECT ciphertext FROM records"
        )
        assert all(b"suspicious van" not in row[0] for row in raw)

    def test_a_record_moved_to_another_id_fails_authentication(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent = first_entry(offline_device)
        side = agent.secure.require_open()
        side.container.put("a", "draft", {"x": 1}, now="t")
        side.container.put("b", "draft", {"x": 2}, now="t")
        db = sqlite3.connect(offline_device.state.path("container.db"))
        (blob,) = db.execute("SELECT ciphertext FROM records WHERE id = 'a'").fetchone()
        (nonce,) = db.execute("SELECT nonce FROM records WHERE id = 'a'").fetchone()
        db.execute("UPDATE records SET ciphertext = ?, nonce = ? WHERE id = 'b'", (blob, nonce))
        db.commit()
        with pytest.raises(AgentError, match="fails authentication"):
            side.container.get("b")

    def test_a_server_refusal_is_reported_and_recorded(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent = first_entry(offline_device)
        run(agent.leave())
        with pytest.raises(ServerError) as refused:
            run(agent.enter(collar=offline_device.collar, pin="000001"))
        assert refused.value.code == "invalid_pin"
        kinds = [event.type for event in agent.outbox.pending()]
        assert kinds[-1] == "secure.denied"

    def test_a_clock_set_back_is_refused(self, offline_device: Device, first_entry: Any) -> None:
        agent = first_entry(offline_device)
        run(agent.leave())
        offline_device.clock.now -= timedelta(hours=3)
        with pytest.raises(RefusedError) as refused:
            run(agent.enter(collar=offline_device.collar, pin=NEW_PIN))
        assert refused.value.code == "clock_moved_back"

    def test_a_blown_warranty_bit_is_refused_before_the_server_is_asked(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent = first_entry(offline_device)
        run(agent.leave())
        agent.platform.device.props["ro.boot.warranty_bit"] = "1"  # type: ignore[attr-defined]
        with pytest.raises(RefusedError) as refused:
            run(agent.enter(collar=offline_device.collar, pin=NEW_PIN))
        assert refused.value.code == "device_non_compliant"
        assert "warranty" in str(refused.value)
        assert agent.secure.open is None


class TestOffline:
    def test_a_shift_offline_opens_the_same_container(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent = first_entry(offline_device)
        agent.secure.require_open().container.put("draft", "draft", {"n": 1}, now="t")
        run(agent.leave())
        offline = offline_device.agent(online=False)
        offline_device.clock.now += timedelta(hours=7)
        status = run(offline.enter(collar=offline_device.collar, pin=NEW_PIN))
        assert status["online"] is False
        assert offline.secure.require_open().container.get("draft") == {"n": 1}
        with pytest.raises(RefusedError, match="need the server"):
            run(offline.transaction({"type": "person_search"}))
        offline.close()

    def test_wrong_pins_offline_destroy_the_offline_key(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        run(first_entry(offline_device).leave())
        offline = offline_device.agent(online=False)
        codes = []
        for _ in range(3):
            with pytest.raises(RefusedError) as refused:
                run(offline.enter(collar=offline_device.collar, pin="000001"))
            codes.append(refused.value.code)
        assert codes == ["invalid_pin", "invalid_pin", "offline_locked_out"]
        with pytest.raises(RefusedError) as after:
            run(offline.enter(collar=offline_device.collar, pin=NEW_PIN))
        assert after.value.code == "offline_not_allowed"
        offline.close()

    def test_a_stretched_deadline_makes_the_offline_key_unreadable(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        run(first_entry(offline_device).leave())
        path = offline_device.state.path("offline-key.json")
        data = json.loads(path.read_text())
        data["until"] = (datetime.fromisoformat(data["until"]) + timedelta(days=30)).isoformat()
        path.write_text(json.dumps(data))
        offline = offline_device.agent(online=False)
        with pytest.raises(RefusedError) as refused:
            run(offline.enter(collar=offline_device.collar, pin=NEW_PIN))
        assert refused.value.code == "invalid_pin"
        offline.close()


class TestCryptoShred:
    def test_a_copy_taken_offline_is_useless_after_the_wipe_and_the_deadline(
        self, offline_device: Device, first_entry: Any, tmp_path: Path
    ) -> None:
        agent = first_entry(offline_device)
        agent.secure.require_open().container.put("result", "result", {"secret": "PNC"}, now="t")
        run(agent.leave())
        working_offline = offline_device.agent(online=False)
        run(working_offline.enter(collar=offline_device.collar, pin=NEW_PIN))
        copy = AgentState(tmp_path / "stolen")
        shutil.copytree(offline_device.state.directory, copy.directory)
        personal_before = personal_side(copy)
        assert work_profile(copy) is not None
        working_offline.close()

        offline_device.wipe()
        offline_device.clock.now += timedelta(hours=8, seconds=1)
        thief_offline = offline_device.agent(copy, online=False)
        with pytest.raises(RefusedError) as refused:
            run(thief_offline.enter(collar=offline_device.collar, pin=NEW_PIN))
        assert refused.value.code == "offline_deadline_passed"
        assert not copy.path("offline-key.json").exists()
        thief_offline.close()

        thief_online = offline_device.agent(copy)
        run(thief_online.check_in())
        assert not copy.path("container.db").exists()
        shredded = [e for e in thief_online.outbox.pending(500) if e.type == "container.shredded"]
        run(thief_online.enter(collar=offline_device.collar, pin=NEW_PIN))
        assert records_readable(thief_online) == []  # a new, empty container
        thief_online.close()
        assert personal_side(copy) == personal_before
        assert work_profile(copy) is None  # the secure side's profile went with its key
        assert shredded[0].detail["secure_side_removed"]["removed_user"] == 10

    def test_with_offline_use_off_a_copy_is_useless_at_once(
        self, online_only_device: Device, first_entry: Any, tmp_path: Path
    ) -> None:
        device = online_only_device
        agent = first_entry(device)
        agent.secure.require_open().container.put("result", "result", {"secret": "PNC"}, now="t")
        run(agent.leave())
        assert not device.state.path("offline-key.json").exists()
        copy = AgentState(tmp_path / "stolen")
        shutil.copytree(device.state.directory, copy.directory)
        device.wipe()
        thief = device.agent(copy, online=False)
        with pytest.raises(RefusedError) as refused:
            run(thief.enter(collar=device.collar, pin=NEW_PIN))
        assert refused.value.code == "offline_not_allowed"
        db = sqlite3.connect(copy.path("container.db"))
        (key_id,) = db.execute("SELECT value FROM meta WHERE name = 'key_id'").fetchone()
        db.close()
        guessed = Container(
            copy.directory,
            device_id=device.state.enrolment().device_id,
            key_id=key_id,
            key=bytes(32),
        )
        with pytest.raises(AgentError, match="fails authentication"):
            guessed.get("result")  # any key but the destroyed one opens nothing
        guessed.close()
        thief.close()

    def test_check_in_shreds_the_container_when_the_server_says_so(
        self, offline_device: Device, first_entry: Any
    ) -> None:
        agent = first_entry(offline_device)
        run(agent.leave())
        offline_device.wipe()
        run(agent.check_in())
        assert not offline_device.state.path("container.db").exists()
        assert not offline_device.state.path("offline-key.json").exists()
        [shredded] = [e for e in agent.outbox.pending() if e.type == "container.shredded"]
        assert shredded.detail["container_deleted"] is True
        assert shredded.detail["offline_key_destroyed"] is True
