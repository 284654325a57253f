"""Two `tabard serve` nodes over one PostgreSQL database behind a real haproxy, each with a data
directory of its own and one shared `keys/`, and a handful of real agents that know only the
load balancer's address. It shows, from each node's own access log (haproxy labels every
device request with the device whose assertion it carries, as the request id the node logs):
any node serves any device; a command queued through one node's staff API reaches a device
whose long poll the other node holds; the scheduler runs a job once per due time across the
two; and when one node stops, the devices carry on through the other and nothing is lost."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from mdm_server.commands.routes import MAX_WAIT_S
from mdm_server.scheduler.models import ScheduledJob
from tests.e2e.agents import agent_running, audit_trail, read_database
from tests.e2e.haproxy import LABEL_DEVICE_REQUESTS, HAProxy, haproxy_or_skip, nodes_sharing_keys
from tests.e2e.harness import Tabard, free_port
from tests.e2e.test_commands import command
from tests.e2e.test_metrics import TOKEN, scraped
from tests.e2e.test_workers import shared_database  # noqa: F401 (a fixture)
from tests.factories.tls import loopback_server
from tests.support import wait_for

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough passphrase"
AGENTS = 3
JOB = "checkpoint_audit_log"  # runs every TABARD_AUDIT_CHECKPOINT_INTERVAL_S when shorter than 10
JOB_EVERY_S = 2
POLL_OPEN = "long poll open for device "
# A run may be claimed once this much of an interval has passed since the last began
# (mdm_server/scheduler/runner.py, CLAIM_AFTER).
CLAIM_AFTER = 0.9
EXAMPLE = Path(__file__).parents[2] / "deploy" / "haproxy" / "tabard.cfg"


def records(lines: list[str]) -> list[dict[str, Any]]:
    """The node's JSON log lines (TABARD_LOG_FORMAT=json), as read so far."""
    return [json.loads(line) for line in list(lines) if line.startswith("{")]


def device_requests(lines: list[str]) -> list[dict[str, Any]]:
    """Access lines of device requests, each with the device haproxy labelled it with."""
    found = []
    for record in records(lines):
        request_id = record.get("request_id") or ""
        if record["logger"] == "tabard.access" and "." in request_id:
            found.append({**record, "device": request_id.split(".")[0]})
    return found


def served(lines: list[str]) -> dict[str, set[int]]:
    """Statuses each device was answered with, by device."""
    by_device: dict[str, set[int]] = {}
    for request in device_requests(lines):
        by_device.setdefault(request["device"], set()).add(request["status"])
    return by_device


def listening(lines: list[str]) -> bool:
    return any("listening for command wake-ups" in line for line in lines)


def held_poll(lines: list[str], since: int) -> dict[str, Any] | None:
    """A long poll that opened after line `since` and has not been answered yet."""
    answered = {r.get("request_id") for r in records(lines) if r["logger"] == "tabard.access"}
    for record in records(lines[since:]):
        if record["message"].startswith(POLL_OPEN) and record["request_id"] not in answered:
            return record
    return None


def job_runs(node: Tabard) -> float:
    """JOB's runs by this node alone, from its /metrics."""
    with httpx.Client(base_url=node.url) as api:
        samples = scraped(api)
    labels = frozenset({("job", JOB), ("outcome", "ok")})
    return samples.get(("tabard_scheduler_runs_total", labels), 0.0)


def recorded_runs(node: Tabard) -> int:
    """How many runs of JOB the shared `scheduled_jobs` row counts, over every node."""
    return read_database(
        node,
        lambda session: (
            session.exec(
                select(ScheduledJob.runs).where(col(ScheduledJob.name) == JOB)
            ).one_or_none()
            or 0
        ),
    )


def runs_seen(nodes: list[Tabard]) -> tuple[list[float], int] | None:
    """Each node's own count of JOB's runs, and the database's, read twice over and kept
    only when no run finished in between (a run is recorded in the database a moment before
    its node counts it)."""
    first = ([job_runs(node) for node in nodes], recorded_runs(nodes[0]))
    second = ([job_runs(node) for node in nodes], recorded_runs(nodes[0]))
    return second if first == second else None


@contextmanager
def balancing(balancer: HAProxy) -> Iterator[HAProxy]:
    balancer.start()
    try:
        yield balancer
    finally:
        balancer.stop()


def enrol_agents(node: Tabard, root: Path, count: int) -> list[Path]:
    """`count` agents enrolled with one token, each in a state directory of its own; the
    payload names the load balancer, so that is the only address they know."""
    token = json.loads(
        node.run("tokens", "create", "--group", "response", "--uses", str(count), "--json").stdout
    )
    payload = root / "payload.json"
    payload.write_text(json.dumps(token["payload"]))
    states = []
    for n in range(count):
        state = root / f"agent{n}" / "state"
        node.run("agent", "--state", str(state), "enrol", "--payload", str(payload))
        states.append(state)
    return states


def send(node: Tabard, device_id: str, kind: str) -> str:
    sent = json.loads(node.run("commands", "send", device_id, kind, "--json").stdout)
    (queued,) = sent["commands"]
    return str(queued["id"])


def receipted(node: Tabard, command_id: str) -> dict[str, Any] | None:
    shown = command(node, command_id)
    return shown if shown["state"] in ("succeeded", "failed") else None


def test_two_nodes_behind_haproxy_serve_one_fleet(
    shared_database: str,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    haproxy_or_skip()
    balancer_port = free_port()
    a, b = nodes_sharing_keys(
        tmp_path,
        2,
        database_url=shared_database,
        public_url=f"http://127.0.0.1:{balancer_port}",
        extra_env={
            "TABARD_LOG_FORMAT": "json",
            "TABARD_LOG_LEVEL": "DEBUG",  # to see which node holds each long poll
            "TABARD_CHECKIN_INTERVAL_S": "30",
            "TABARD_METRICS_TOKEN": TOKEN,
            "TABARD_AUDIT_CHECKPOINT_INTERVAL_S": str(JOB_EVERY_S),
        },
    )
    balancer = HAProxy(
        tmp_path / "haproxy",
        [a.port, b.port],
        port=balancer_port,
        frontend=(LABEL_DEVICE_REQUESTS,),
    )
    a.bootstrap("admin", PASSWORD)
    window_opened = time.time()  # no run of any job can start before this
    with a.serving() as a_log, b.serving() as b_log, balancing(balancer), ExitStack() as agents:
        for log in (a_log, b_log):
            wait_for(lambda: listening(log), "each node's LISTEN")  # noqa: B023
        a.login("admin", PASSWORD)  # IT's session is with node A, directly
        states = enrol_agents(a, tmp_path, AGENTS)
        devices = [json.loads((s / "enrolment.json").read_text())["device_id"] for s in states]
        for state in states:
            agents.enter_context(agent_running(a, state))

        # (a) Any node serves any device: each device's requests land on both, all answered.
        wait_for(
            lambda: all(d in served(a_log) and d in served(b_log) for d in devices),
            "every device served by both nodes",
            timeout=120,
        )
        for log in (a_log, b_log):
            assert {d: statuses for d, statuses in served(log).items()} == {
                d: {200} for d in devices
            }

        # (b) A command queued through node A reaches the device whose poll node B holds.
        since = len(b_log)
        poll = wait_for(lambda: held_poll(b_log, since), "a long poll held by node B", 60)
        device_id = poll["message"].removeprefix(POLL_OPEN).split(",")[0]
        assert device_id in devices
        command_id = send(a, device_id, "request_posture")
        done = wait_for(lambda: receipted(a, command_id), "the receipt", timeout=30)
        assert (done["state"], done["receipt_verified"]) == ("succeeded", True)
        delivered = next(
            e
            for e in audit_trail(a)
            if e.action == "command.delivered" and e.detail["command_id"] == command_id
        )
        assert delivered.detail["via"] == "long_poll"
        assert delivered.request_id == poll["request_id"]  # the very poll node B held
        (answer,) = [r for r in device_requests(b_log) if r["request_id"] == poll["request_id"]]
        assert (answer["path"], answer["status"]) == ("/api/v1/device/commands", 200)
        queued_on = [r for r in records(a_log) if r["logger"] == "tabard.access"]
        assert any(r["path"] == "/api/v1/commands" and r["status"] // 100 == 2 for r in queued_on)
        staff_on_b = [r for r in records(b_log) if r["logger"] == "tabard.access"]
        assert not any(r["path"] == "/api/v1/commands" for r in staff_on_b)

        # (c) The scheduler runs JOB once per due time across both nodes: runs start at least
        # CLAIM_AFTER of an interval apart, so the window holds no more than that allows (two
        # nodes each running it would make about twice as many), and every run is one of the
        # nodes' own.
        wait_for(lambda: recorded_runs(a) >= 5, f"{JOB} to run a few times", timeout=60)
        per_node, recorded = wait_for(lambda: runs_seen([a, b]), "a steady count of runs")
        elapsed = time.time() - window_opened
        assert sum(per_node) == recorded
        assert recorded <= elapsed / (CLAIM_AFTER * JOB_EVERY_S) + 1, (per_node, elapsed)
        with capsys.disabled():
            print(f"\n  {JOB}: {recorded} runs in {elapsed:.0f} s, by node {per_node}")

        # (d) Node B stops while it holds a device's poll: the devices carry on through node
        # A and nothing is lost.
        held = wait_for(lambda: held_poll(b_log, 0), "a long poll held by node B", 60)
        since = len(a_log)
        assert b.server is not None
        b.server.terminate()
        b.server.wait(timeout=30)
        (cut,) = [r for r in device_requests(b_log) if r["request_id"] == held["request_id"]]
        assert cut["status"] == 503  # server_stopping: come back (through the balancer)
        (a_before,), recorded_before = wait_for(lambda: runs_seen([a]), "node A's count")
        after_stop = [send(a, device, "lock_secure_side") for device in devices]
        for sent in after_stop:
            done = wait_for(lambda: receipted(a, sent), "every receipt", timeout=60)  # noqa: B023
            assert (done["state"], done["receipt_verified"]) == ("succeeded", True)
        wait_for(lambda: set(served(a_log[since:])) == set(devices), "every device on node A")
        assert all(statuses == {200} for statuses in served(a_log[since:]).values())
        # ... and node A now runs the scheduled jobs alone, once per due time.
        wait_for(lambda: recorded_runs(a) >= recorded_before + 2, f"{JOB} on node A alone", 60)
        (a_after,), recorded_after = wait_for(lambda: runs_seen([a]), "node A's count")
        assert a_after - a_before == recorded_after - recorded_before >= 2


def test_the_example_configuration_is_one_haproxy_accepts(tmp_path: Path) -> None:
    binary = haproxy_or_skip()
    tls = loopback_server(tmp_path / "tls")
    bundle = tmp_path / "tabard.pem"
    bundle.write_bytes(tls.certificate.read_bytes() + tls.key.read_bytes())
    example = EXAMPLE.read_text()
    config = tmp_path / "tabard.cfg"
    config.write_text(example.replace("/etc/haproxy/certs/tabard.pem", str(bundle)))
    checked = subprocess.run(
        [binary, "-c", "-f", str(config)], capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "http-check send meth GET uri /api/v1/ready" in example
    # Every timeout a held poll passes through outlasts the longest hold the server allows.
    for side in ("client", "server"):
        (seconds,) = re.findall(rf"^\s*timeout {side} (\d+)s$", example, re.MULTILINE)
        assert int(seconds) > MAX_WAIT_S
