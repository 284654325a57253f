"""Stopping `tabard serve` while an agent holds a long poll: the stop answers the poll at once
(`server_stopping`, which the agent takes as "come back"), finishes what is in flight, logs no
error and exits; and start-up says one line about the scheduler, not one per job."""

from __future__ import annotations

import json
import re
import signal
import time

import pytest

from tests.e2e.agents import agent_running
from tests.e2e.harness import Tabard
from tests.support import wait_for

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough passphrase"
HUNG_S = 30  # only to fail a stop that hangs, never a measure of how quick it was


class TestStop:
    def test_sigterm_answers_a_held_poll_and_exits_without_an_error(
        self, tabard: Tabard, capsys: pytest.CaptureFixture[str]
    ) -> None:
        tabard.extra_env["TABARD_LOG_LEVEL"] = "DEBUG"  # to see the poll held
        tabard.extra_env["TABARD_CHECKIN_INTERVAL_S"] = "3600"
        tabard.bootstrap("admin", PASSWORD)
        state = tabard.root / "agent"
        with tabard.serving() as log:
            tabard.login("admin", PASSWORD)
            token = json.loads(
                tabard.run("tokens", "create", "--group", "response", "--json").stdout
            )
            payload = tabard.root / "payload.json"
            payload.write_text(json.dumps(token["payload"]))
            tabard.run("agent", "--state", str(state), "enrol", "--payload", str(payload))
            with agent_running(tabard, state):
                wait_for(lambda: any("long poll open" in line for line in log), "a held poll")
                server = tabard.server
                assert server is not None
                started = time.monotonic()
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=HUNG_S)
                stopped_in = time.monotonic() - started
                agent_log = tabard.root / "agent.log"
                wait_for(
                    lambda: "the server is stopping" in agent_log.read_text(),
                    "the agent to hear the stop",
                )
        with capsys.disabled():
            print(f"\n  SIGTERM to exit with a poll held: {stopped_in:.2f} s")
        output = "".join(log)
        assert server.returncode is not None
        assert "ERROR" not in output and "Traceback" not in output, output
        assert "GET /api/v1/device/commands 503" in output  # answered, not cut off
        assert "Finished server process" in output
        agent_said = agent_log.read_text()
        assert "command poll failed (server refused" not in agent_said

    def test_start_up_says_one_line_about_the_scheduler(self, tabard: Tabard) -> None:
        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving() as log:
            pass
        scheduler_lines = [line for line in log if "scheduler" in line.lower()]
        assert len(scheduler_lines) == 1, scheduler_lines
        assert re.search(r"scheduler started: \d+ jobs", scheduler_lines[0])
        assert not any("apscheduler" in line for line in log)
