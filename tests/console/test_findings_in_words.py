"""The device page's findings in words: what each rule checks, what the policy expects and
what the device has, and what the enforcement ladder does when the grace ends; and, when the
policy checks nothing, it says so rather than "nothing fails"."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import yaml
from fastapi.testclient import TestClient

from mdm_server.console.findings import in_words as findings_in_words
from mdm_server.console.templating import when
from mdm_server.policies.schemas import Explanation, FindingPublic, SettingPublic
from tests.conftest import FakeClock
from tests.console.cells import column
from tests.console.conftest import Browser
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


class TestTheWords:
    def test_findings_the_device_cannot_answer_or_android_cannot_enforce(self) -> None:
        now = datetime(2026, 12, 4, 20, 32, 27, tzinfo=UTC)
        found = [
            FindingPublic(rule="device.passcode.quality", severity="high", status="unknown",
                          expected="numeric", actual=None),
            FindingPublic(rule="secure_side.share_into_work_allowed", severity="medium",
                          status="incompatible", expected=False,
                          actual={"sdk": 25, "needs_sdk": 28}),
            FindingPublic(rule="device.passcode.lock_timeout_minutes", severity="medium",
                          status="non_compliant", expected=5, actual="not applied",
                          first_seen=now, grace_deadline=now + timedelta(hours=72)),
            FindingPublic(rule="secure_side.allowed_apps", severity="medium",
                          status="compliant", expected=[{"package": "uk.police.gate"}],
                          actual=[]),
        ]  # fmt: skip
        ladders = {"medium": [{"action": "notify", "after_hours": 0},
                              {"action": "lock_device", "after_hours": 72}]}  # fmt: skip
        explanation = Explanation(
            device_id=uuid.uuid4(), serial="R58J", group="response", layers=[],
            policy_version=1, device_policy_version=1,
            settings=[SettingPublic(path="enforcement.ladders", value=ladders,
                                    layers=["fleet"], how="set")],
            status="in_grace", findings=found, actions=[], evaluated_at=now,
            posture_received_at=now, stored_status=None, stored_at=None,
        )  # fmt: skip
        rows = {row.rule: row for row in findings_in_words(explanation)}
        assert next(iter(rows.values())).finding.status == "non_compliant"  # the failing first
        lock = rows["Screen lock strength"]
        assert (lock.expected, lock.actual) == ("PIN or stronger", "not reported")
        share = rows["Sharing into the secure side"]
        assert (share.expected, share.actual) == (
            "not allowed",
            "Android API level 25; it needs 28",
        )
        timeout = rows["Screen lock timeout"]
        assert (timeout.expected, timeout.actual) == (
            "at most 5 minutes",
            "not applied by the device",
        )
        assert timeout.then == "the device is locked"
        apps = rows["Apps on the secure side"]
        assert (apps.expected, apps.actual, apps.then) == ("only uk.police.gate", "no others", "")

    def test_the_secure_sides_app_rules(self) -> None:
        now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
        minimums = {
            "uk.police.pnc": {"min_version_code": 42, "min_version_from": "2026-12-14"},
            "uk.police.forms": {"min_version_code": 7},
        }
        behind = [
            {
                "package": "uk.police.pnc",
                "installed": 41,
                "min_version_code": 42,
                "min_version_from": "2026-12-14",
            }
        ]
        found = [
            FindingPublic(rule="secure_side.app_versions", severity="medium",
                          status="compliant", expected=minimums, actual=behind),
            FindingPublic(rule="secure_side.required_apps", severity="medium",
                          status="non_compliant", expected=["uk.police.pnc"],
                          actual=["uk.police.pnc"], first_seen=now),
            FindingPublic(rule="secure_side.blocked_apps", severity="high",
                          status="compliant", expected=["uk.police.oldforms"], actual=[]),
        ]  # fmt: skip
        settings = [
            SettingPublic(path="secure_side.allowed_apps", value=[], layers=["fleet", "group:west"],
                          how="combined"),
        ]  # fmt: skip
        explanation = Explanation(
            device_id=uuid.uuid4(), serial="R58J", group="west", layers=[],
            policy_version=1, device_policy_version=1, settings=settings,
            status="non_compliant", findings=found, actions=[], evaluated_at=now,
            posture_received_at=now, stored_status=None, stored_at=None,
        )  # fmt: skip
        rows = {row.rule: row for row in findings_in_words(explanation)}
        versions = rows["App versions on the secure side"]
        assert versions.expected == (
            "uk.police.pnc at least 42 from 2026-12-14; uk.police.forms at least 7"
        )
        assert versions.actual == "uk.police.pnc at 41 (needs 42 from 2026-12-14)"
        assert versions.layers == ["fleet", "group:west"]  # from the setting it is part of
        required = rows["Required apps on the secure side"]
        assert (required.expected, required.actual) == (
            "all of uk.police.pnc",
            "missing: uk.police.pnc",
        )
        blocked = rows["Blocked apps on the secure side"]
        assert (blocked.expected, blocked.actual) == ("none of uk.police.oldforms", "none there")
