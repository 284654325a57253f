"""Policies through the CLI against a running server: a bad document is refused with located
errors and nothing stored; a good one is applied; a virtual device checks in through the
agent; `tabard policy explain` shows its compliance change when its posture changes and when
its policy does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Tabard

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough passphrase"
EXAMPLES = Path(__file__).parents[2] / "examples" / "policies"


def _explain(tabard: Tabard, device_id: str) -> dict[str, Any]:
    return dict(json.loads(tabard.run("policy", "explain", device_id, "--json").stdout))


def _failing(explained: dict[str, Any]) -> set[str]:
    return {f["rule"] for f in explained["findings"] if f["status"] == "non_compliant"}


def _change_device(state: Path, change: dict[str, Any]) -> None:
    """What the officer does on the phone: the virtual device's saved state, edited."""
    platform = state / "platform.json"
    saved = json.loads(platform.read_text())
    for path, value in change.items():
        node = saved["device"]
        *parents, leaf = path.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    platform.write_text(json.dumps(saved))


class TestPolicyThroughTheCli:
    def test_validate_apply_checkin_and_explain(self, tabard: Tabard) -> None:
        bad = tabard.root / "bad.yaml"
        bad.write_text("name: baseline\nsecure_side:\n  offline_grace_hours: 100\n")
        offline = tabard.run("policy", "validate", str(bad), check=False)  # no server needed
        assert offline.returncode == 1
        assert "secure_side.offline_grace_hours: must be at most 72" in offline.stderr

        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            refused = tabard.run("policy", "apply", str(bad), "--to", "fleet", check=False)
            assert refused.returncode == 1
            assert "nothing was stored or applied" in refused.stderr
            assert json.loads(tabard.run("policy", "list", "--json").stdout) == []

            baseline = str(EXAMPLES / "fleet-baseline.yaml")
            applied = json.loads(
                tabard.run("policy", "apply", baseline, "--to", "fleet", "--json").stdout
            )
            assert applied["stored"]["version"] == 1

            token = json.loads(
                tabard.run("tokens", "create", "--group", "response", "--json").stdout
            )
            state = tabard.root / "agent"
            device_id = json.loads(
                tabard.run(
                    "agent",
                    "--state",
                    str(state),
                    "enrol",
                    "--server",
                    tabard.url,
                    "--token",
                    token["token"],
                    "--platform",
                    "virtual:SM-J530F@9",
                    "--json",
                ).stdout
            )["device_id"]
            answer = json.loads(
                tabard.run("agent", "--state", str(state), "checkin", "--json").stdout
            )

            first = _explain(tabard, device_id)
            assert answer["policy_version"] == first["policy_version"]
            assert first["stored_status"] == "in_grace"
            # Out of the box: no screen lock and USB debugging on.
            assert {"device.passcode.quality", "device.usb_debugging_allowed"} <= _failing(first)

            # The officer sets a PIN and turns USB debugging off: compliance follows.
            _change_device(state, {"screen_lock": "pin", "settings.global.adb_enabled": "0"})
            tabard.run("agent", "--state", str(state), "checkin")
            second = _explain(tabard, device_id)
            assert "device.passcode.quality" not in _failing(second)
            assert "device.usb_debugging_allowed" not in _failing(second)

            # A stricter group policy: the device moves group, and explain shows the new layer
            # and what now fails, before and after the next check-in.
            tabard.run("devices", "assign", device_id, "--group", "specialist")
            tabard.run(
                "policy",
                "apply",
                str(EXAMPLES / "specialist-unit.yaml"),
                "--to",
                "group:specialist",
            )
            third = _explain(tabard, device_id)
            assert [layer["policy"] for layer in third["layers"]] == [
                "fleet-baseline",
                "specialist-unit",
            ]
            assert "device.passcode.quality" in _failing(third)  # a PIN is not alphanumeric
            tabard.run("agent", "--state", str(state), "checkin")
            assert _explain(tabard, device_id)["stored_status"] == third["status"]

            human = tabard.run("policy", "explain", device_id).stdout
            summary = json.loads(tabard.run("policy", "summary", "--json").stdout)
            versions = json.loads(
                tabard.run("policy", "versions", "fleet-baseline", "--json").stdout
            )
        assert "Resolved settings" in human and "group:specialist" in human
        assert summary["devices"] == 1
        assert [v["version"] for v in versions] == [1]
