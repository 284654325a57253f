"""The device page's findings in words: what each rule checks, what the policy expects and
what the device has, and what the enforcement ladder does when the grace ends; and, when the
policy checks nothing, it says so rather than "nothing fails"."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import yaml
from fastapi.testclient import TestClient

from mdm_server.console.templating import when
from tests.conftest import FakeClock
from tests.console.conftest import Browser
from tests.console.reading import column
from tests.console.test_plain_words import in_words
from tests.factories.devices import SimulatedDevice
from tests.server.test_policies import EXAMPLES, apply, put_policy

# The virtual J5 as it comes out of the box: no screen lock, USB debugging and developer
# options on, a work profile only.
OUT_OF_THE_BOX = {
    "screen_lock": {"secure": False, "type": "none"},
    "usb_debugging": True,
    "developer_options": True,
    "unknown_sources": False,
    "management_mode": "profile_owner",
}


def findings(page: str) -> dict[str, dict[str, str]]:
    """The findings table: each row's cells by heading, keyed by what its rule checks (the
    first line of the Rule cell)."""
    names = ("Rule", "Status", "Expected", "Actual", "Note")
    table = page.split('id="findings"', 1)[1]
    cells = {name: column(table, name) for name in names}
    rows = [dict(zip(names, row, strict=True)) for row in zip(*cells.values(), strict=True)]
    return {re.sub(r" device\..*| secure_side\..*", "", row["Rule"]): row for row in rows}


class TestFindingsInWords:
    def test_the_fleet_baseline_against_a_j5_out_of_the_box(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
        clock: FakeClock,
        browser_for: Callable[..., Browser],
    ) -> None:
        baseline = yaml.safe_load((EXAMPLES / "fleet-baseline.yaml").read_text())
        assert put_policy(client, admin_headers, baseline).status_code == 201
        assert apply(client, admin_headers, "fleet", baseline["name"]).status_code == 200
        posture = enrolled.posture(**OUT_OF_THE_BOX)
        assert enrolled.checkin(client, now=clock(), posture=posture).status_code == 200
        page = browser_for("it_admin").get(f"/console/devices/{enrolled.device_id}").text
        in_words(page)
        rows = findings(page)
        lock = rows["Screen lock strength"]
        assert lock["Rule"] == "Screen lock strength device.passcode.quality, set by fleet"
        assert lock["Status"] == "non compliant high severity"
        assert (lock["Expected"], lock["Actual"]) == ("PIN or stronger", "no lock, or swipe")
        blocked_at = when(clock() + timedelta(hours=24))  # the baseline's high ladder
        assert lock["Note"] == (
            f"In grace until {blocked_at}; then the secure side is blocked, unless it is put right."
        )
        usb = rows["USB debugging"]
        assert (usb["Expected"], usb["Actual"]) == ("off", "on")
        assert usb["Status"] == "non compliant medium severity"
        assert usb["Note"].startswith("Compensating control: a device owner")
        assert (rows["Developer options"]["Expected"], rows["Developer options"]["Actual"]) == (
            "off",
            "on",
        )
        patch = rows["Security patch age"]
        assert patch["Expected"] == "at most 180 days old"
        assert re.fullmatch(r"2017-06-01 \([\d,]+ days old\)", patch["Actual"])
        assert rows["Storage encryption"]["Actual"] == "encrypted"
        assert list(rows)[:1] != ["Device model"]  # the failing ones first
        assert all(row["Status"].startswith("non") for row in list(rows.values())[:5])
        due = re.search(r'<ul data-enforcement="due">(.*?)</ul>', page, re.S)
        assert due is not None
        assert "Notify IT (an audit event), since" in due.group(1)
        assert "Screen lock strength" in due.group(1)

    def test_a_policy_checking_nothing_says_so(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
        clock: FakeClock,
        browser_for: Callable[..., Browser],
    ) -> None:
        quiet = {"schema_version": 1, "name": "quiet", "secure_side": {"offline_grace_hours": 8}}
        assert put_policy(client, admin_headers, quiet).status_code == 201
        assert apply(client, admin_headers, "fleet", "quiet").status_code == 200
        posture = enrolled.posture(**OUT_OF_THE_BOX)
        assert enrolled.checkin(client, now=clock(), posture=posture).status_code == 200
        page = browser_for("it_admin").get(f"/console/devices/{enrolled.device_id}").text
        assert "nothing fails" not in page
        assert "Nothing to check: the policy in force sets no rule for a device's posture." in page
