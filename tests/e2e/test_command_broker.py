"""A real `tabard serve` with the NATS broker configured delivers a command to a running agent
through a broker wake-up: the agent listens on the broker instead of holding a long poll, and
on the wake-up fetches the signed envelope over the authenticated API (docs/device-protocol.md
section 8.6). Check-ins are an hour apart, so neither they nor a poll can have carried it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.broker import broker_url
from tests.e2e.agents import agent_running, audit_trail
from tests.e2e.harness import Tabard
from tests.e2e.test_commands import command
from tests.e2e.test_secure_side import PASSWORD, enrol_assigned_j5
from tests.support import wait_for

pytestmark = pytest.mark.e2e


def test_a_command_reaches_an_agent_by_a_broker_wake_up_with_no_poll_held(
    tabard: Tabard, tmp_path: Path
) -> None:
    tabard.extra_env.update(
        TABARD_CHECKIN_INTERVAL_S="3600",
        TABARD_COMMAND_BROKER_URL=broker_url(),
        TABARD_LOG_LEVEL="DEBUG",  # the server says when it holds a long poll
    )
    tabard.bootstrap("admin", PASSWORD)
    with tabard.serving() as server_log:
        wait_for(
            lambda: any("publishing command wake-ups" in line for line in server_log),
            "the server to reach the broker",
        )
        tabard.login("admin", PASSWORD)
        state = enrol_assigned_j5(tabard)
        device_id = json.loads((state / "enrolment.json").read_text())["device_id"]
        agent_log = state.parent / "agent.log"
        with agent_running(tabard, state):
            wait_for(
                lambda: "listening for command wake-ups" in agent_log.read_text(),
                "the agent to listen on the broker",
            )
            sent = json.loads(
                tabard.run("commands", "send", device_id, "lock_secure_side", "--json").stdout
            )
            (queued,) = sent["commands"]
            done = wait_for(
                lambda: (
                    (c := command(tabard, queued["id"]))["state"] in ("succeeded", "failed") and c
                ),
                "the receipt",
                timeout=30,
            )
        held = [line for line in server_log if f"long poll open for device {device_id}" in line]

    assert (done["state"], done["receipt_verified"]) == ("succeeded", True)
    assert held == [], "the agent held a long poll: " + "".join(held)
    assert "holding a long poll instead" not in agent_log.read_text()
    delivered = [
        e
        for e in audit_trail(tabard)
        if e.action == "command.delivered" and e.detail["command_id"] == queued["id"]
    ]
    assert [e.detail["delivery"] for e in delivered] == [1]  # one fetch, on the wake-up
