"""The checkpoint key changed with `tabard keys rotate checkpoint` while `tabard serve` runs and
an enrolled agent checks in and searches: the agent never notices, the server signs with the
new key at once and stays ready, a witness that pinned the old key follows the change, a bundle
exported before it verifies for the new key given the log's key changes, and the log
verifies across it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from mdm_server.audit.notes import NoteError, NoteVerifier
from tests.e2e.agents import agent_running, audit_trail
from tests.e2e.harness import Tabard
from tests.e2e.test_backup import Load
from tests.e2e.test_secure_side import COLLAR, PASSWORD, enrol_assigned_j5
from tests.support import wait_for

pytestmark = pytest.mark.e2e
NEW_PASSWORD = "another long passphrase for the auditor"


def _signed_by(tabard: Tabard, key: str, beyond: int) -> bool:
    """Whether the server's newest checkpoint is past `beyond` and signed by `key`."""
    note = httpx.get(f"{tabard.url}/api/v1/audit/checkpoint", timeout=10).text
    try:
        return NoteVerifier.parse(key).open(note).size > beyond
    except NoteError:
        return False


def _export(tabard: Tabard, out: Path) -> None:
    today = datetime.now(UTC).date()
    tabard.run(
        "audit", "export", "--from", today.isoformat(),
        "--to", (today + timedelta(days=1)).isoformat(), "--out", str(out),
    )  # fmt: skip


def _auditor_signs_in(tabard: Tabard) -> None:
    """A first sign-in (a new password, a second factor), then one with a code: the step-up
    an export needs."""
    tabard.run(
        "login", "--server", tabard.url, "--username", "ps-auditor", "--password-stdin",
        stdin=f"{PASSWORD}\n{NEW_PASSWORD}\n",
    )  # fmt: skip
    tabard.enrol_factor("ps-auditor")
    tabard.login("ps-auditor", NEW_PASSWORD)


@pytest.mark.timeout(600)
def test_the_checkpoint_key_changes_under_load_and_everyone_follows(
    tabard: Tabard, tmp_path: Path
) -> None:
    tabard.extra_env["TABARD_AUDIT_CHECKPOINT_INTERVAL_S"] = "1"  # checkpoints all along
    witness = ["audit", "witness", "--server", tabard.url, "--state", str(tmp_path / "w")]
    old_bundle, new_bundle = tmp_path / "before.zip", tmp_path / "after.zip"
    changes = tmp_path / "key-changes.json"
    tabard.bootstrap("admin", PASSWORD)
    with tabard.serving():
        tabard.login("admin", PASSWORD)
        tabard.run(
            "users", "create", "--username", "ps-auditor", "--role", "auditor",
            "--password-stdin", stdin=PASSWORD + "\n",
        )  # fmt: skip
        state = enrol_assigned_j5(tabard)
        agent = ["agent", "--state", str(state)]
        with agent_running(tabard, state):
            tabard.run(
                *agent, "secure", "enter", "--officer", COLLAR, "--pin-stdin",
                "--acknowledge", "2026.2", stdin="402917\n583062\n",
            )  # fmt: skip
            load = Load(tabard, state)
            load.thread.start()
            try:
                wait_for(lambda: len(load.searches) >= 2, "searches under way")
                assert tabard.run(*witness).returncode == 0  # pins the key in use, first sight
                _auditor_signs_in(tabard)
                _export(tabard, old_bundle)
                old_key = httpx.get(f"{tabard.url}/api/v1/audit/verifier-key").text.strip()

                rotated = json.loads(tabard.run("keys", "rotate", "checkpoint", "--json").stdout)

                searched_before = len(load.searches)
                wait_for(lambda: len(load.searches) >= searched_before + 2, "searches carry on")
                wait_for(
                    lambda: _signed_by(tabard, rotated["new_key"], rotated["checkpoint"]),
                    "the server's scheduler signing with the new key",
                )
            finally:
                load.stop.set()
                load.thread.join(timeout=120)
            checkins = load.checkins
        ready = httpx.get(f"{tabard.url}/api/v1/ready", timeout=10)
        served_key = httpx.get(f"{tabard.url}/api/v1/audit/verifier-key").text.strip()
        followed = tabard.run(*witness, "--json")
        changes.write_text(httpx.get(f"{tabard.url}/api/v1/audit/key-changes").text)
        _export(tabard, new_bundle)
    verified = json.loads(tabard.run("audit", "verify", "--json").stdout)
    old_for_new = tabard.run(
        "audit", "verify-bundle", str(old_bundle),
        "--verifier-key", rotated["new_key"], "--key-changes", str(changes),
    )  # fmt: skip
    old_alone = tabard.run(
        "audit", "verify-bundle", str(old_bundle), "--verifier-key", rotated["new_key"],
        check=False,
    )  # fmt: skip
    new_for_new = tabard.run(
        "audit", "verify-bundle", str(new_bundle), "--verifier-key", rotated["new_key"]
    )
    trail = audit_trail(tabard)

    assert rotated["old_key"] == old_key != rotated["new_key"] == served_key
    assert checkins > 0
    assert ready.status_code == 200, ready.text  # no restart, and no key reported changed
    assert json.loads(followed.stdout)["outcome"] == "accepted"
    assert json.loads(followed.stdout)["followed"] == [rotated["new_key"]]
    assert verified["ok"] is True, verified["problems"]
    assert "which handed over (1) to" in old_for_new.stdout
    assert old_alone.returncode == 1 and "key changes" in old_alone.stderr
    assert "The bundle verifies" in new_for_new.stdout
    (change,) = [e for e in trail if e.action == "audit.checkpoint_key_changed"]
    assert change.seq == rotated["recorded_at_seq"]
    searched = {
        e.detail.get("transaction_id") for e in trail if e.action == "transaction.person_search"
    }
    assert set(load.searches) <= searched  # every search acknowledged, before and after
