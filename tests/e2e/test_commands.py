"""Commands end to end over real sockets: IT wipes a virtual J5's secure side while its agent
long-polls; the agent runs the signed command, the server verifies its signed receipt, the
container is gone and the personal side untouched. Check-ins are an hour apart here, so only
the long poll can have carried the command."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agents import agent_running, audit_trail
from tests.e2e.harness import Tabard
from tests.e2e.test_secure_side import COLLAR, PASSWORD, enrol_assigned_j5
from tests.support import wait_for

pytestmark = pytest.mark.e2e


def virtual_device(state: Path) -> dict[str, Any]:
    device: dict[str, Any] = json.loads((state / "platform.json").read_text())["device"]
    return device


def command(tabard: Tabard, command_id: str) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(tabard.run("commands", "show", command_id, "--json").stdout)
    return shown


class TestWipeOverTheLongPoll:
    def test_it_wipes_the_secure_side_and_gets_a_verified_receipt(
        self, tabard: Tabard, capsys: pytest.CaptureFixture[str]
    ) -> None:
        tabard.extra_env["TABARD_CHECKIN_INTERVAL_S"] = "3600"
        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            state = enrol_assigned_j5(tabard)
            agent = ["agent", "--state", str(state)]
            with agent_running(tabard, state):
                tabard.run(
                    *agent,
                    "secure",
                    "enter",
                    "--officer",
                    COLLAR,
                    "--pin-stdin",
                    "--acknowledge",
                    "2026.2",
                    stdin="402917\n583062\n",
                )
                assert (state / "container.db").exists()
                before = virtual_device(state)
                assert any(user["id"] == 10 for user in before["users"])
                started = time.monotonic()
                sent = json.loads(
                    tabard.run(
                        "commands",
                        "send",
                        str(json.loads((state / "enrolment.json").read_text())["device_id"]),
                        "wipe_secure_side",
                        "--reason",
                        "phone lost on patrol",
                        "--json",
                    ).stdout
                )
                (queued,) = sent["commands"]
                done = wait_for(
                    lambda: (
                        (c := command(tabard, queued["id"]))["state"] in ("succeeded", "failed")
                        and c
                    ),
                    "the receipt",
                    timeout=30,
                )
                elapsed = time.monotonic() - started
                with capsys.disabled():
                    print(f"\n  enqueue to verified receipt over the long poll: {elapsed:.2f} s")

                assert (done["state"], done["receipt_verified"]) == ("succeeded", True)
                assert done["deliveries"] == 1
                (delivery,) = [
                    e
                    for e in audit_trail(tabard)
                    if e.action == "command.delivered" and e.detail["command_id"] == queued["id"]
                ]
                assert delivery.detail["via"] == "long_poll"
                assert done["evidence"]["container_deleted"] is True
                assert done["evidence"]["secure_side_removed"]["removed_user"] == 10
                assert not (state / "container.db").exists()
                status = json.loads(tabard.run(*agent, "status", "--json").stdout)
                assert (status["secure_side"], status["container_key_id"]) == ("locked", None)
                after = virtual_device(state)
                assert not any(user["id"] == 10 for user in after["users"])
                assert after["installs"]["0"] == before["installs"]["0"]
                assert after["files"] == before["files"]
