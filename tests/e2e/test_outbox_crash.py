"""The outbox against crashes and a bad network, end to end: a real `tabard serve` behind a
proxy that fails a share of event uploads at random (503s, cut connections, answers lost after
the server acted), and a real `tabard agent run` killed with SIGKILL in the middle of an upload,
again and again, while the device goes on recording events. After the last restart the outbox
drains and the server holds every event exactly once, in an unbroken sequence."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import uuid
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from device_agent.outbox import FILE as OUTBOX_FILE
from device_agent.outbox import Outbox
from mdm_server.audit.models import AuditEvent
from mdm_server.devices.models import DeviceEvent, DeviceEventHead
from tests.e2e.agents import agent_running, read_database
from tests.e2e.chaos import FlakyProxy
from tests.e2e.harness import Tabard
from tests.support import wait_for

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough passphrase"
EVENTS_PATH = "/api/v1/device/events"
KILLS = 5
FIRST_EVENTS = 1200
EVENTS_WHILE_DOWN = 60
KINDS = ("secure.entered", "transaction", "secure.left", "secure.denied")


def enrol(tabard: Tabard) -> Path:
    token = json.loads(tabard.run("tokens", "create", "--group", "response", "--json").stdout)
    payload = tabard.root / "payload.json"
    payload.write_text(json.dumps(token["payload"]))
    state = tabard.root / "agent"
    tabard.run(
        "agent", "--state", str(state), "enrol", "--payload", str(payload),
        "--platform", "virtual:SM-J530F",
    )  # fmt: skip
    return state


def through(state: Path, proxy: FlakyProxy) -> None:
    """Point the enrolled agent at the proxy, as if the network between them were bad."""
    record = json.loads((state / "enrolment.json").read_text())
    record["server"] = proxy.url
    (state / "enrolment.json").write_text(json.dumps(record))


def record_events(state: Path, count: int, rng: random.Random) -> list[str]:
    """Usage events recorded on the device (while the agent is down: a shift offline)."""
    outbox = Outbox(state)
    try:
        return [
            outbox.add(
                rng.choice(KINDS),
                {"collar_number": "4021", "note": f"event {n}"},
                occurred_at="2026-11-21T03:00:00+00:00",
            ).event_id
            for n in range(count)
        ]
    finally:
        outbox.close()


def pending(state: Path) -> int:
    db = sqlite3.connect(state / OUTBOX_FILE)
    try:
        return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        db.close()


def on_server(
    session: Session, device_id: uuid.UUID
) -> tuple[list[DeviceEvent], DeviceEventHead | None, list[str]]:
    """The device's stored events, its sequence head and the event ids its audit events name."""
    events = session.exec(
        select(DeviceEvent)
        .where(col(DeviceEvent.device_id) == device_id)
        .order_by(col(DeviceEvent.seq))
    ).all()
    head = session.get(DeviceEventHead, device_id)
    audited = session.exec(
        select(AuditEvent).where(
            col(AuditEvent.action).startswith("device_event."),
            col(AuditEvent.target_id) == str(device_id),
        )
    ).all()
    return list(events), head, [str(event.detail["event_id"]) for event in audited]


class TestOutboxSurvivesCrashesAndABadNetwork:
    @pytest.mark.timeout(600)
    def test_every_event_reaches_the_server_exactly_once(self, tabard: Tabard) -> None:
        seed = int(os.environ.get("TABARD_CHAOS_SEED", random.SystemRandom().randrange(2**32)))
        rng = random.Random(seed)
        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            state = enrol(tabard)
            device_id = uuid.UUID(json.loads((state / "enrolment.json").read_text())["device_id"])
            proxy = FlakyProxy(tabard.port, path=EVENTS_PATH, seed=seed)
            with proxy.running():
                through(state, proxy)
                recorded = record_events(state, FIRST_EVENTS, rng)
                killed_mid_upload = 0
                for _ in range(KILLS):
                    # The kill lands while an upload is on the wire; the proxy then lets it
                    # through, so the server keeps a batch the agent never heard it keep.
                    hold = proxy.hold(nth=rng.randint(1, 2), fate="pass")
                    with agent_running(tabard, state) as agent:
                        wait_for(
                            lambda: hold.arrived.is_set() or pending(state) == 0,  # noqa: B023
                            "an upload to kill",
                        )
                        agent.send_signal(signal.SIGKILL)
                        agent.wait(timeout=30)
                    hold.release()
                    if hold.arrived.is_set():
                        killed_mid_upload += 1
                        assert hold.done.wait(30), "the held upload never finished"
                    recorded += record_events(state, EVENTS_WHILE_DOWN, rng)
                with agent_running(tabard, state):
                    wait_for(
                        lambda: pending(state) == 0,
                        f"the outbox to drain (TABARD_CHAOS_SEED={seed})",
                        timeout=240,
                    )
            events, head, audited = read_database(
                tabard, lambda session: on_server(session, device_id)
            )

        about = f"(TABARD_CHAOS_SEED={seed}, proxy: {dict(proxy.fates)})"
        assert killed_mid_upload >= 1, about
        assert proxy.fates["pass"] > 0 and sum(proxy.fates.values()) > KILLS, about
        stored = [str(event.event_id) for event in events]
        assert len(recorded) == FIRST_EVENTS + KILLS * EVENTS_WHILE_DOWN
        assert len(stored) == len(set(stored)), about  # nothing twice
        assert set(recorded) <= set(stored), about  # nothing lost
        # The agent records its own events too (the policy it applied at check-in).
        own = {event.type for event in events if str(event.event_id) not in set(recorded)}
        assert own <= {"policy.applied"}, about
        assert [event.seq for event in events] == list(range(1, len(events) + 1)), about
        assert head is not None, about
        assert head.contiguous_seq == head.highest_seq == len(events), about
        assert sorted(audited) == sorted(stored), about
