"""Two `tabard serve` processes sharing one PostgreSQL database, as two workers or two hosts
behind a load balancer would: IT queues a wipe through one, the agent long-polls the other,
and the wake-up crosses between them by LISTEN/NOTIFY. Check-ins are an hour apart, and the
poll that carries the command must be the one already open when it was queued, so neither
the check-in nor a later poll can have carried it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import PostgresDatabases
from tests.e2e.agents import agent_running, audit_trail
from tests.e2e.harness import Tabard, free_port
from tests.e2e.test_commands import command
from tests.e2e.test_secure_side import PASSWORD, enrol_assigned_j5
from tests.support import wait_for

pytestmark = pytest.mark.e2e
POLL = re.compile(r"GET /api/v1/device/commands 200 ")


@pytest.fixture
def shared_database(postgres: PostgresDatabases | None) -> Iterator[str]:
    if postgres is None:
        pytest.skip("set TABARD_TEST_DATABASE_URL: several workers need PostgreSQL")
    url = postgres.create()
    yield url
    postgres.drop(url)


def test_a_command_queued_on_one_worker_reaches_a_poll_held_by_another(
    shared_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    polled_port = free_port()
    common = {
        "TABARD_CHECKIN_INTERVAL_S": "3600",
        # Devices know one address; here it is the worker that holds their polls.
        "TABARD_PUBLIC_URL": f"http://127.0.0.1:{polled_port}",
    }
    polled = Tabard(
        tmp_path,
        database_url=shared_database,
        port=polled_port,
        extra_env={**common, "TABARD_LOG_LEVEL": "DEBUG"},
    )
    queuing = Tabard(tmp_path, database_url=shared_database, extra_env=common)
    queuing.bootstrap("admin", PASSWORD)
    with queuing.serving() as queuing_log, polled.serving() as polled_log:
        wait_for(
            lambda: any("listening for command wake-ups" in line for line in polled_log),
            "the polled worker's LISTEN",
        )
        # IT's session is with the queuing worker; the agent enrols with the polled one.
        queuing.run(
            "login",
            "--server",
            queuing.url,
            "--username",
            "admin",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        state = enrol_assigned_j5(queuing)
        device_id = json.loads((state / "enrolment.json").read_text())["device_id"]
        with agent_running(queuing, state):
            wait_for(
                lambda: any(f"long poll open for device {device_id}" in x for x in polled_log),
                "the agent's long poll on the polled worker",
            )
            polls_before = sum(bool(POLL.search(line)) for line in polled_log)
            started = time.monotonic()
            sent = json.loads(
                queuing.run(
                    "commands",
                    "send",
                    device_id,
                    "wipe_secure_side",
                    "--reason",
                    "phone lost on patrol",
                    "--json",
                ).stdout
            )
            (queued,) = sent["commands"]
            done = wait_for(
                lambda: (
                    (c := command(queuing, queued["id"]))["state"] in ("succeeded", "failed") and c
                ),
                "the receipt",
                timeout=30,
            )
            elapsed = time.monotonic() - started
            with capsys.disabled():
                print(f"\n  queued on one worker, receipt via the other: {elapsed:.2f} s")
            # The poll open before the send answered with the command: no second poll needed.
            answered = [line for line in polled_log if POLL.search(line)]
            assert len(answered) == polls_before + 1, "".join(answered)

        assert (done["state"], done["receipt_verified"]) == ("succeeded", True)
        trail = {
            e.action: e
            for e in audit_trail(queuing)
            if e.action.startswith("command.") and e.detail["command_id"] == queued["id"]
        }
        assert trail["command.delivered"].detail["via"] == "long_poll"
        server_side = (
            trail["command.succeeded"].occurred_at - trail["command.requested"].occurred_at
        )
        with capsys.disabled():
            print(
                "  queued to receipt recorded, by the audit trail:",
                f"{server_side.total_seconds():.2f} s",
            )
        assert not any("/api/v1/device/" in line for line in queuing_log)
        assert any("POST /api/v1/commands 20" in line for line in queuing_log)
        assert any(f"/api/v1/device/commands/{queued['id']}/receipt" in x for x in polled_log)
