"""Crash: `tabard serve` killed with SIGKILL again and again while several clients write audit
events as fast as it answers. Every event the server acknowledged is in the log afterwards,
the sequence has no gap, and `tabard audit verify` passes on the tree the kills interrupted."""

from __future__ import annotations

import json
import os
import signal
import threading
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.agents import audit_trail
from tests.e2e.harness import Tabard
from tests.support import wait_for

PASSWORD = "correct horse battery staple"
KILLS = 4
WRITERS = 4
PER_BATCH = 5
ACKNOWLEDGED_BEFORE_KILL = 150  # new acknowledged events each round before the kill


def _token(tabard: Tabard) -> str:
    response = httpx.post(
        f"{tabard.url}/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def _write_until_killed(
    tabard: Tabard, token: str, tag: str, acknowledged: set[str], enough: threading.Event, goal: int
) -> None:
    run = str(uuid.uuid4())
    lock = threading.Lock()
    refusals: list[str] = []

    def writer(worker: int) -> None:
        with httpx.Client(base_url=tabard.url, timeout=10) as client:
            for n in range(1_000_000):
                keys = [f"{tag}-{worker}-{n}-{k}" for k in range(PER_BATCH)]
                body = {
                    "events": [
                        {"kind": "step", "run_id": run, "step": 1, "message": key} for key in keys
                    ]
                }
                try:
                    response = client.post(
                        "/api/v1/provisioning/events",
                        json=body,
                        headers={"authorization": f"Bearer {token}"},
                    )
                except httpx.HTTPError:
                    return  # the server died under this request: not acknowledged
                if response.status_code != 201:
                    refusals.append(f"{response.status_code} {response.text[:200]}")
                    return
                with lock:
                    acknowledged.update(keys)
                    if len(acknowledged) >= goal:
                        enough.set()

    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    assert enough.wait(120), f"too few events acknowledged; refusals: {refusals[:3]}"
    signed_before = len(acknowledged)
    wait_for(lambda: _checkpoint_size(tabard) >= signed_before, "a checkpoint under the load")
    assert tabard.server_pid is not None
    os.kill(tabard.server_pid, signal.SIGKILL)  # with requests in flight
    for thread in threads:
        thread.join(timeout=30)
    assert not refusals, refusals[:3]  # a dead server drops connections; it never says no


def _checkpoint_size(tabard: Tabard) -> int:
    response = httpx.get(f"{tabard.url}/api/v1/audit/checkpoint", timeout=10)
    return int(response.text.split("\n")[1]) if response.status_code == 200 else 0


@pytest.mark.timeout(600)
def test_acknowledged_events_survive_sigkill_and_the_log_verifies(tabard: Tabard) -> None:
    tabard.extra_env["TABARD_AUDIT_CHECKPOINT_INTERVAL_S"] = "1"  # checkpoints during the load
    tabard.bootstrap("admin", PASSWORD)
    acknowledged: set[str] = set()
    for round_ in range(KILLS):
        with tabard.serving():
            token = _token(tabard)
            goal = len(acknowledged) + ACKNOWLEDGED_BEFORE_KILL
            _write_until_killed(tabard, token, f"r{round_}", acknowledged, threading.Event(), goal)
    events = audit_trail(tabard)
    stored = {e.detail.get("message") for e in events if e.action == "provisioning.step"}
    assert acknowledged <= stored, f"lost: {sorted(acknowledged - stored)[:5]}"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    during = _verified(tabard, len(events))
    assert during["checkpoints_checked"] >= 1  # the scheduler signed some under the load
    tabard.run("audit", "checkpoint")
    after = _verified(tabard, len(events))
    assert after["latest_checkpoint"] == len(events)


def _verified(tabard: Tabard, events: int) -> dict[str, Any]:
    result = tabard.run("audit", "verify", "--json", check=False)
    report: dict[str, Any] = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"], report["problems"]
    assert report["events"] == events
    return report
