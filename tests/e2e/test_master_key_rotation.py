"""Rotating the master key end to end while `tabard serve` runs with enrolled agents: officers
enter the secure side (the server unwraps their devices' container keys) before the rotation,
between its first batch and the rest, while the rest runs, and after it; the old key file is
gone at the end, the server stays ready throughout and was never restarted."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.agents import agent_running
from tests.e2e.harness import Tabard
from tests.e2e.test_secure_side import COLLAR, PASSWORD, enrol_assigned_j5
from tests.support import wait_for

pytestmark = pytest.mark.e2e
FIRST_PIN, PIN = "402917", "583062"
SECOND_COLLAR = "4022"


def enrol_second_j5(tabard: Tabard) -> Path:
    """Another officer with their own J5, under the policy the first one's set up applied."""
    tabard.run(
        "users",
        "create",
        "--username",
        "pc-4022",
        "--role",
        "officer",
        "--collar",
        SECOND_COLLAR,
        "--division",
        "north",
        "--display-name",
        "PC Second",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    tabard.run("users", "set-pin", SECOND_COLLAR, "--pin-stdin", stdin=FIRST_PIN + "\n")
    token = json.loads(
        tabard.run(
            "tokens", "create", "--group", "response", "--officer", SECOND_COLLAR, "--json"
        ).stdout
    )
    payload = tabard.root / "payload-2.json"
    payload.write_text(json.dumps(token["payload"]))
    state = tabard.root / "agent-2"
    tabard.run(
        "agent",
        "--state",
        str(state),
        "enrol",
        "--payload",
        str(payload),
        "--platform",
        "virtual:SM-J510FN",
    )
    return state


def enter(tabard: Tabard, state: Path, collar: str, *, first: bool = False) -> dict[str, Any]:
    """The officer enters the secure side (at the first entry, acknowledging the policy and
    changing the PIN IT set); what the agent says."""
    agent = ["agent", "--state", str(state), "secure", "enter", "--officer", collar]
    extra = ["--acknowledge", "2026.2"] if first else []
    stdin = f"{FIRST_PIN}\n{PIN}\n" if first else f"{PIN}\n"
    opened = tabard.run(*agent, "--pin-stdin", *extra, "--json", stdin=stdin)
    return dict(json.loads(opened.stdout))


def enter_and_leave(tabard: Tabard, state: Path, collar: str) -> None:
    opened = enter(tabard, state, collar)
    assert opened["secure_side"] == "open", opened
    tabard.run("agent", "--state", str(state), "secure", "leave")


def master_status(tabard: Tabard) -> dict[str, Any]:
    return dict(json.loads(tabard.run("keys", "status", "--json").stdout)["master"])


def ready(tabard: Tabard) -> int:
    try:
        return httpx.get(f"{tabard.url}/api/v1/ready", timeout=30).status_code
    except httpx.ConnectError:
        return 0  # the workers are not accepting yet


class Entries:
    """One officer entering and leaving the secure side over and over until stopped."""

    def __init__(self, tabard: Tabard, state: Path, collar: str) -> None:
        self.tabard, self.state, self.collar = tabard, state, collar
        self.done = 0
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                enter_and_leave(self.tabard, self.state, self.collar)
            except AssertionError as exc:
                self.failures.append(str(exc))
                return
            self.done += 1


class TestMasterKeyRotation:
    def test_agents_enter_the_secure_side_before_during_and_after_a_live_rotation(
        self, tabard: Tabard, backend: str
    ) -> None:
        tabard.extra_env["TABARD_SECOND_FACTOR_REQUIRED"] = "true"  # IT's factor: a secret too
        tabard.bootstrap("admin", PASSWORD)
        workers = ("--workers", "2") if backend == "postgresql" else ()
        with tabard.serving(*workers) as server_log:
            # With workers, uvicorn says it runs before they accept connections.
            wait_for(lambda: ready(tabard) == 200, "the workers")
            tabard.login("admin", PASSWORD)
            first, second = enrol_assigned_j5(tabard), enrol_second_j5(tabard)
            with agent_running(tabard, first), agent_running(tabard, second):
                # Before: each device's container key is made and wrapped under key 1.
                for state, collar in ((first, COLLAR), (second, SECOND_COLLAR)):
                    assert enter(tabard, state, collar, first=True)["secure_side"] == "open"
                    tabard.run("agent", "--state", str(state), "secure", "leave")
                before = master_status(tabard)

                # During: one batch of one secret rewrapped, the rest still under key 1.
                tabard.run("keys", "rotate", "master", "--batch", "1", "--max-batches", "1")
                midway = master_status(tabard)
                enter_and_leave(tabard, first, COLLAR)
                enter_and_leave(tabard, second, SECOND_COLLAR)
                ready_midway = ready(tabard)

                # The rest, while an officer keeps entering and leaving.
                entries = Entries(tabard, first, COLLAR)
                entries.thread.start()
                try:
                    wait_for(lambda: entries.done >= 1 or entries.failures, "entries under way")
                    tabard.run("keys", "rotate", "master", "--batch", "1")
                    finished_at = entries.done
                    wait_for(
                        lambda: entries.done >= finished_at + 2 or entries.failures,
                        "entries after the rotation",
                    )
                finally:
                    entries.stop.set()
                    entries.thread.join(timeout=120)

                # After: both officers enter; IT signs in again with its second factor.
                enter_and_leave(tabard, second, SECOND_COLLAR)
                enter_and_leave(tabard, first, COLLAR)
                tabard.login("admin", PASSWORD)
                after = master_status(tabard)
                ready_after = ready(tabard)
            log = "".join(server_log)

        keys_dir = tabard.root / "data" / "keys"
        assert before == {
            "keys": [1],
            "current": 1,
            "secrets": {"1": 3},  # two container keys and IT's second-factor secret
            "remaining": 0,
            "rotation_in_progress": False,
        }
        assert midway["keys"] == [1, 2] and midway["rotation_in_progress"] is True
        assert midway["secrets"] == {"1": 2, "2": 1}
        assert ready_midway == 200
        assert entries.failures == []
        assert after == {
            "keys": [2],
            "current": 2,
            "secrets": {"2": 3},
            "remaining": 0,
            "rotation_in_progress": False,
        }
        assert ready_after == 200
        assert not (keys_dir / "master.key").exists() and (keys_dir / "master.2.key").exists()
        assert "not ready" not in log and "Traceback" not in log
