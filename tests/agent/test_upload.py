"""The outbox upload never stalls for good: two copies of one state directory both reach the
server, each event once; an event the server refuses as invalid is set aside and the rest goes
on; an oversized batch goes again in halves; a refusal retrying cannot change stops uploads and
is shown, and a server fault is left to the caller's backoff."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from jwt.utils import base64url_decode
from sqlmodel import col, select

from device_agent.agent import Agent
from device_agent.client import ServerClient
from device_agent.errors import ServerUnavailableError
from device_agent.outbox import Outbox
from device_agent.state import AgentState
from device_agent.upload import OutboxStalledError, Uploader
from mdm_server.db import Database
from mdm_server.devices.models import DeviceEvent
from tests.agent.test_secure_side import Device, run

OCCURRED = "2026-11-21T03:00:00+00:00"


def record(agent: Agent, count: int, kind: str) -> list[str]:
    """Usage recorded on one copy while it is offline; the event ids."""
    return [
        agent.outbox.add(kind, {"note": f"{kind} {n}"}, occurred_at=OCCURRED).event_id
        for n in range(count)
    ]


def stored(database: Database, device_id: str) -> list[tuple[int, str]]:
    with database.unit_of_work(write=False) as session:
        rows = session.exec(
            select(DeviceEvent.seq, DeviceEvent.event_id)
            .where(col(DeviceEvent.device_id) == uuid.UUID(device_id))
            .order_by(col(DeviceEvent.seq))
        ).all()
    return [(seq, str(event_id)) for seq, event_id in rows]


class TestTwoCopiesOfOneStateDirectory:
    def test_both_copies_events_reach_the_server_once_each_in_an_unbroken_sequence(
        self, offline_device: Device, database: Database
    ) -> None:
        real = offline_device.agent()
        shared = record(real, 2, "secure.entered")  # pending when the copy is taken
        copied = AgentState(offline_device.state.directory.parent / "copy")
        shutil.copytree(offline_device.state.directory, copied.directory)
        clone = offline_device.agent(copied)
        try:
            on_clone = record(clone, 3, "transaction")
            on_real = record(real, 4, "secure.left")
            assert run(clone.upload()) == 5  # the copy goes online first
            assert run(real.upload()) == 6  # 2 it shared, 4 its own: none refused for good
            on_clone += record(clone, 2, "transaction")  # its counter meets the real's again
            assert run(clone.upload()) == 2
            assert real.outbox.count() == clone.outbox.count() == 0
            kept = stored(database, offline_device.state.enrolment().device_id)
            assert sorted(event for _, event in kept) == sorted(shared + on_clone + on_real)
            assert [seq for seq, _ in kept] == list(range(1, 12))
            assert real.status()["outbox_renumbered"] == 3  # its 3 numbers the copy used
            assert clone.status()["outbox_renumbered"] == 2
            assert real.status()["outbox_stalled"] is None
        finally:
            clone.close()
            real.close()


Answer = Callable[[list[dict[str, Any]]], httpx.Response]


class ScriptedServer:
    """Answers event uploads as `answer` says; keeps what it was sent."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.batches: list[list[dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        events = [
            json.loads(base64url_decode(token.split(".")[1]))
            for token in json.loads(request.content)["events"]
        ]
        self.batches.append(events)
        return self.answer(events)


def kept(events: list[dict[str, Any]]) -> httpx.Response:
    ids = [event["event_id"] for event in events]
    return httpx.Response(200, json={"accepted": ids, "duplicates": [], "conflicts": []})


def refused(status: int, error: str, detail: Any) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "detail": detail})


@pytest.fixture
def uploader_for(offline_device: Device) -> Any:
    agent = offline_device.agent()
    record(agent, 5, "secure.entered")
    identity, server = agent.identity, agent.record.server

    def make(script: ScriptedServer) -> Uploader:
        transport = httpx.MockTransport(script)
        return Uploader(
            agent.outbox, lambda: ServerClient(server, identity=identity, transport=transport)
        )

    yield make
    agent.close()


class TestRefusals:
    def test_an_event_refused_as_invalid_is_set_aside_and_the_rest_goes_on(
        self, uploader_for: Any
    ) -> None:
        def answer(events: list[dict[str, Any]]) -> httpx.Response:
            if len(script.batches) == 1:
                problem = {"field": "events.1.type", "problem": "String should match pattern"}
                return refused(422, "invalid_request", [problem])
            return kept(events)

        script = ScriptedServer(answer)
        uploader: Uploader = uploader_for(script)
        assert run(uploader.upload()) == 4
        second = script.batches[0][1]
        assert [e["event_id"] for e in script.batches[1]] == [
            e["event_id"] for e in script.batches[0] if e is not second
        ]
        (aside,) = uploader.outbox.refused()
        assert (aside["event_id"], aside["seq"]) == (second["event_id"], second["seq"])
        assert aside["problem"] == (
            "invalid_request (422): events.1.type: String should match pattern"
        )
        status = uploader.status()
        assert (status["outbox_pending"], status["outbox_refused"]) == (0, 1)
        assert status["outbox_stalled"] is None

    def test_a_batch_too_large_for_the_server_goes_again_in_halves(self, uploader_for: Any) -> None:
        script = ScriptedServer(
            lambda events: (
                refused(413, "payload_too_large", "the body is over 1 MiB")
                if len(events) > 2
                else kept(events)
            )
        )
        uploader: Uploader = uploader_for(script)
        assert run(uploader.upload()) == 5
        through = [len(batch) for batch in script.batches if len(batch) <= 2]
        assert sum(through) == 5 and len(script.batches) - len(through) <= 8
        assert uploader.outbox.refused() == []

    def test_a_refusal_retrying_cannot_change_stops_uploads_and_is_shown(
        self, uploader_for: Any
    ) -> None:
        script = ScriptedServer(
            lambda _: refused(401, "device_not_active", "the device is retired")
        )
        uploader: Uploader = uploader_for(script)
        with pytest.raises(OutboxStalledError):
            run(uploader.upload())
        assert len(script.batches) == 1
        assert uploader.stalled is not None and uploader.stalled[0] == "device_not_active"
        stalled = uploader.status()["outbox_stalled"]
        assert stalled.startswith("device_not_active (401): the device is retired (since ")
        assert stalled.endswith(" UTC)")
        assert uploader.status()["outbox_pending"] == 5  # kept, to send once it is resolved

    def test_a_server_fault_is_left_to_the_backoff(self, uploader_for: Any) -> None:
        script = ScriptedServer(lambda _: refused(503, "unavailable", "try again"))
        uploader: Uploader = uploader_for(script)
        with pytest.raises(ServerUnavailableError):
            run(uploader.upload())
        assert uploader.status()["outbox_stalled"] is None
        assert uploader.status()["outbox_pending"] == 5

    def test_conflicts_without_a_place_to_renumber_stop_uploads(self, uploader_for: Any) -> None:
        def answer(events: list[dict[str, Any]]) -> httpx.Response:
            conflicts = [
                {"event_id": e["event_id"], "seq": e["seq"], "problem": "taken"} for e in events
            ]
            return httpx.Response(
                200, json={"accepted": [], "duplicates": [], "conflicts": conflicts}
            )

        uploader: Uploader = uploader_for(ScriptedServer(answer))
        with pytest.raises(OutboxStalledError):
            run(uploader.upload())
        assert uploader.stalled is not None and uploader.stalled[0] == "conflicts_unresolved"


class TestRenumbering:
    def test_renumbering_keeps_ids_and_order_and_moves_the_counter_past_them(
        self, tmp_path: Any
    ) -> None:
        outbox = Outbox(tmp_path)
        try:
            ids = [outbox.add("secure.entered", {}, occurred_at=OCCURRED).event_id for _ in "abcd"]
            moved = outbox.resequence([ids[2], ids[0]], start=3, at=OCCURRED)
            assert moved == [(1, 5), (3, 6)]  # above every number given, not only from 3
            assert [(e.seq, e.event_id) for e in outbox.pending()] == [
                (2, ids[1]),
                (4, ids[3]),
                (5, ids[0]),
                (6, ids[2]),
            ]
            assert outbox.add("secure.left", {}, occurred_at=OCCURRED).seq == 7
            assert outbox.position() == 7
            assert outbox.resequenced() == 2
        finally:
            outbox.close()
