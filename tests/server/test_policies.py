"""Policies on the server: versions, assignments, the policy served to devices, compliance
at check-in and on schedule, explanations and the fleet summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.db import Database
from mdm_server.policies import compliance
from mdm_server.policies.models import (
    ComplianceChange,
    EnforcementAction,
    Policy,
    PolicyAssignment,
    PolicyVersion,
)
from tests.conftest import FakeClock
from tests.factories.commands import retire
from tests.factories.devices import SimulatedDevice
from tests.factories.enrolment import create_token
from tests.factories.staff import headers_for
from tests.support import audit_events, error_of, row_counts

EXAMPLES = Path(__file__).parents[2] / "examples" / "policies"
PIN_LOCK = {"secure": True, "type": "pin", "length": 6}  # meets BASELINE's passcode
BASELINE = {
    "name": "baseline",
    "device": {
        "encryption_required": True,
        "usb_debugging_allowed": False,
        "passcode": {"min_length": 6, "quality": "numeric"},
    },
    "secure_side": {"offline_grace_hours": 12, "camera_allowed": True},
    "appropriate_use": {"rules": {"self_search": True}, "policy_text_version": "2026.1"},
    "enforcement": {
        "ladders": {
            "high": [
                {"action": "notify", "after_hours": 0},
                {"action": "block_secure_side", "after_hours": 24},
            ],
            "medium": [
                {"action": "notify", "after_hours": 0},
                {"action": "block_secure_side", "after_hours": 72},
            ],
        }
    },
}


def put_policy(client: TestClient, headers: dict[str, str], document: Any, **extra: Any) -> Any:
    name = document["name"] if isinstance(document, dict) else "x"
    return client.put(
        f"/api/v1/policies/{name}", json={"document": document, **extra}, headers=headers
    )


def apply(client: TestClient, headers: dict[str, str], target: str, policy: str) -> Any:
    return client.put(
        f"/api/v1/policy-assignments/{target}", json={"policy": policy}, headers=headers
    )


def baseline_for_fleet(client: TestClient, headers: dict[str, str]) -> None:
    """Store BASELINE and apply it to the fleet, as most tests here start."""
    assert put_policy(client, headers, BASELINE).status_code == 201
    assert apply(client, headers, "fleet", "baseline").status_code == 200


def explain(client: TestClient, headers: dict[str, str], device: SimulatedDevice) -> dict[str, Any]:
    response = client.get(f"/api/v1/devices/{device.device_id}/policy", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def statuses(explanation: dict[str, Any]) -> dict[str, str]:
    return {finding["rule"]: finding["status"] for finding in explanation["findings"]}


class TestStoringPolicies:
    def test_a_bad_document_gets_located_errors_and_nothing_is_stored(
        self, client: TestClient, admin_headers: dict[str, str], database: Database
    ) -> None:
        bad = {"name": "baseline", "secure_side": {"offline_grace_hours": 100, "camera": False}}
        response = put_policy(client, admin_headers, bad)
        assert response.status_code == 422
        assert error_of(response) == "invalid_policy"
        assert response.json()["detail"] == [
            {"field": "secure_side.offline_grace_hours", "problem": "must be at most 72"},
            {
                "field": "secure_side.camera",
                "problem": "is not a setting Tabard knows; check the spelling",
            },
        ]
        assert row_counts(database, Policy, PolicyVersion) == {"Policy": 0, "PolicyVersion": 0}
        assert audit_events(database, "policy.version_created") == []

    def test_the_name_in_the_url_must_match_the_document(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        response = client.put(
            "/api/v1/policies/other", json={"document": BASELINE}, headers=admin_headers
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] == "name"

    def test_changing_a_policy_adds_a_version_and_keeps_the_old_ones(
        self, client: TestClient, admin_headers: dict[str, str], database: Database
    ) -> None:
        first = put_policy(client, admin_headers, BASELINE, source="# v1\nname: baseline\n")
        assert first.status_code == 201
        assert first.json()["version"] == 1
        again = put_policy(client, admin_headers, BASELINE)
        assert again.status_code == 200
        assert again.json() == {**first.json(), "created": False}

        stricter = {**BASELINE, "secure_side": {"offline_grace_hours": 4, "camera_allowed": True}}
        second = put_policy(client, admin_headers, stricter, comment="shorter offline grace")
        assert second.status_code == 201
        assert second.json()["version"] == 2

        versions = client.get("/api/v1/policies/baseline/versions", headers=admin_headers).json()
        assert [(v["version"], v["current"], v["comment"]) for v in versions] == [
            (2, True, "shorter offline grace"),
            (1, False, ""),
        ]
        old = client.get("/api/v1/policies/baseline/versions/1", headers=admin_headers).json()
        assert old["document"]["secure_side"]["offline_grace_hours"] == 12
        assert old["source"] == "# v1\nname: baseline\n"
        current = client.get("/api/v1/policies/baseline", headers=admin_headers).json()
        assert current["version"] == 2
        assert current["document"]["secure_side"]["offline_grace_hours"] == 4
        assert [e.detail["version"] for e in audit_events(database, "policy.version_created")] == [
            1,
            2,
        ]
        missing = client.get("/api/v1/policies/baseline/versions/3", headers=admin_headers)
        assert missing.status_code == 404

    def test_validate_reports_without_storing(
        self, client: TestClient, admin_headers: dict[str, str], database: Database
    ) -> None:
        good = client.post("/api/v1/policies/validate", json=BASELINE, headers=admin_headers)
        assert good.json()["valid"] is True
        bad = client.post("/api/v1/policies/validate", json=[1, 2], headers=admin_headers)
        assert bad.json() == {
            "valid": False,
            "errors": ["(document): must be a mapping of settings, not a list or a value"],
            "name": None,
            "digest": None,
            "settings": 0,
        }
        assert row_counts(database, Policy) == {"Policy": 0}

    def test_the_schema_is_served(self, client: TestClient, app: FastAPI) -> None:
        schema = client.get("/api/v1/policies/schema", headers=headers_for(app, "officer"))
        assert schema.status_code == 200
        assert "secure_side" in schema.json()["properties"]

    @pytest.mark.parametrize("role", ["auditor", "supervisor", "officer"])
    def test_only_it_stores_and_assigns(self, client: TestClient, app: FastAPI, role: str) -> None:
        headers = headers_for(app, role)
        assert put_policy(client, headers, BASELINE).status_code == 403
        assert apply(client, headers, "fleet", "baseline").status_code == 403

    def test_officers_cannot_read_policies(self, client: TestClient, app: FastAPI) -> None:
        assert (
            client.get("/api/v1/policies", headers=headers_for(app, "officer")).status_code == 403
        )
        assert (
            client.get("/api/v1/policies", headers=headers_for(app, "auditor")).status_code == 200
        )


class TestAssignments:
    def test_assign_to_fleet_group_and_device(
        self, client: TestClient, admin_headers: dict[str, str], enrolled: SimulatedDevice
    ) -> None:
        put_policy(client, admin_headers, BASELINE)
        put_policy(
            client, admin_headers, {"name": "cid", "device": {"passcode": {"min_length": 8}}}
        )
        assert apply(client, admin_headers, "fleet", "baseline").status_code == 200
        assert apply(client, admin_headers, "group/cid", "cid").status_code == 200
        device = apply(client, admin_headers, f"device/{enrolled.serial}", "cid")
        assert device.json()["target"] == enrolled.device_id
        listed = client.get("/api/v1/policy-assignments", headers=admin_headers).json()
        assert [(a["scope"], a["target"], a["policy"]) for a in listed] == [
            ("device", enrolled.device_id, "cid"),
            ("fleet", None, "baseline"),
            ("group", "cid", "cid"),
        ]
        summaries = client.get("/api/v1/policies", headers=admin_headers).json()
        assert {s["name"]: s["assignments"] for s in summaries} == {
            "baseline": ["fleet"],
            "cid": [f"device:{enrolled.device_id}", "group:cid"],
        }

    def test_bad_assignments_say_what_is_wrong(
        self, client: TestClient, admin_headers: dict[str, str], database: Database
    ) -> None:
        assert error_of(apply(client, admin_headers, "fleet", "nope")) == "policy_not_found"
        put_policy(client, admin_headers, BASELINE)
        assert (
            error_of(apply(client, admin_headers, "device/ffff0000", "baseline"))
            == "device_not_found"
        )
        assert apply(client, admin_headers, "group/Bad Group", "baseline").status_code == 422
        assert apply(client, admin_headers, "planet", "baseline").status_code in (404, 405)
        assert row_counts(database, PolicyAssignment) == {"PolicyAssignment": 0}
        gone = client.delete("/api/v1/policy-assignments/fleet", headers=admin_headers)
        assert error_of(gone) == "assignment_not_found"

    def test_unassigning_removes_the_layer(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        baseline_for_fleet(client, admin_headers)
        assert explain(client, admin_headers, enrolled)["layers"] == [
            {"layer": "fleet", "policy": "baseline", "version": 1}
        ]
        assert (
            client.delete("/api/v1/policy-assignments/fleet", headers=admin_headers).status_code
            == 204
        )
        assert explain(client, admin_headers, enrolled)["layers"] == []


class TestDevicePolicy:
    def test_served_policy_matches_the_checkin_version_and_omits_server_side_rules(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        baseline_for_fleet(client, admin_headers)
        version = enrolled.checkin(client, now=clock()).json()["policy_version"]
        served = enrolled.policy(client, now=clock()).json()
        assert served["version"] == version
        assert served["policy"]["secure_side"]["offline_grace_hours"] == 12
        assert served["policy"]["appropriate_use"] == {"policy_text_version": "2026.1"}
        assert "enforcement" not in served["policy"]

        put_policy(client, admin_headers, {**BASELINE, "secure_side": {"offline_grace_hours": 2}})
        newer = enrolled.checkin(client, now=clock()).json()["policy_version"]
        assert newer != version
        assert enrolled.policy(client, now=clock()).json()["version"] == newer

    def test_the_policy_endpoint_needs_a_device_assertion(self, client: TestClient) -> None:
        assert client.get("/api/v1/device/policy").status_code == 401


class TestCompliance:
    def test_compliance_follows_posture_and_policy_with_history(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
        clock: FakeClock,
        database: Database,
    ) -> None:
        baseline_for_fleet(client, admin_headers)
        good = enrolled.posture(screen_lock=PIN_LOCK)
        enrolled.checkin(client, now=clock(), posture=good)
        shown = explain(client, admin_headers, enrolled)
        assert shown["status"] == shown["stored_status"] == "compliant"

        clock.advance(minutes=5)
        enrolled.checkin(client, now=clock(), posture={**good, "usb_debugging": True})
        shown = explain(client, admin_headers, enrolled)
        assert shown["stored_status"] == shown["status"] == "in_grace"
        assert statuses(shown)["device.usb_debugging_allowed"] == "non_compliant"
        assert [a["action"] for a in shown["actions"]] == ["notify"]

        # A stricter policy shows in explain at once, and is stored at the next check-in.
        put_policy(
            client,
            admin_headers,
            {**BASELINE, "device": {**BASELINE["device"], "passcode": {"min_length": 8}}},
        )
        shown = explain(client, admin_headers, enrolled)
        assert statuses(shown)["device.passcode.min_length"] == "non_compliant"
        assert shown["stored_status"] == "in_grace"
        clock.advance(minutes=5)
        enrolled.checkin(client, now=clock(), posture={**good, "usb_debugging": True})

        history = client.get(
            f"/api/v1/devices/{enrolled.device_id}/compliance", headers=admin_headers
        ).json()
        assert [(h["status_before"], h["status_after"]) for h in history] == [
            ("in_grace", "in_grace"),
            ("compliant", "in_grace"),
            (None, "compliant"),
        ]
        assert history[0]["changes"]["device.passcode.min_length"] == ["compliant", "non_compliant"]
        assert "policy_version" in history[0]["changes"]
        assert history[1]["changes"] == {
            "device.usb_debugging_allowed": ["compliant", "non_compliant"]
        }
        changed = audit_events(database, "device.compliance_changed")
        assert [(e.detail["from"], e.detail["to"]) for e in changed] == [
            (None, "compliant"),
            ("compliant", "in_grace"),
        ]

    def test_an_unchanged_checkin_of_a_compliant_device_writes_no_history(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
        clock: FakeClock,
        database: Database,
    ) -> None:
        baseline_for_fleet(client, admin_headers)
        posture = enrolled.posture(screen_lock=PIN_LOCK)
        for _ in range(3):
            enrolled.checkin(client, now=clock(), posture=posture)
            clock.advance(minutes=5)
        assert row_counts(database, ComplianceChange) == {"ComplianceChange": 1}

    def test_offline_devices_advance_along_the_ladder_and_recover(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
        clock: FakeClock,
        app: FastAPI,
        database: Database,
    ) -> None:
        baseline_for_fleet(client, admin_headers)
        bad = enrolled.posture(encrypted=False, screen_lock=PIN_LOCK)
        enrolled.checkin(client, now=clock(), posture=bad)
        assert self._due(client, admin_headers) == [("notify", ["device.encryption_required"])]

        clock.advance(hours=25)  # the device stays offline
        admin_headers = headers_for(app, "it_admin")  # the first login's token has expired
        report = compliance.sweep(app.state.context.database, now=clock())
        assert (report.devices, report.changed) == (1, 1)
        assert sorted(self._due(client, admin_headers)) == [
            ("block_secure_side", ["device.encryption_required"]),
            ("notify", ["device.encryption_required"]),
        ]
        device = client.get(f"/api/v1/devices/{enrolled.device_id}", headers=admin_headers).json()
        assert device["compliance"] == "non_compliant"
        again = compliance.sweep(app.state.context.database, now=clock())
        assert again.changed == 0
        assert len(audit_events(database, "enforcement.action_due")) == 2

        enrolled.checkin(client, now=clock(), posture={**bad, "encrypted": True})
        assert self._due(client, admin_headers) == []
        closed = client.get(
            "/api/v1/compliance/actions?state=superseded", headers=admin_headers
        ).json()
        assert sorted(a["action"] for a in closed) == ["block_secure_side", "notify"]
        assert row_counts(database, EnforcementAction) == {"EnforcementAction": 2}

    def test_time_alone_moves_a_device_that_keeps_checking_in(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
        clock: FakeClock,
        app: FastAPI,
    ) -> None:
        baseline_for_fleet(client, admin_headers)
        bad = enrolled.posture(encrypted=False, screen_lock=PIN_LOCK)
        enrolled.checkin(client, now=clock(), posture=bad)
        for _ in range(3):  # the same report within grace changes nothing
            clock.advance(hours=7)
            enrolled.checkin(client, now=clock(), posture=bad)
        admin_headers = headers_for(app, "it_admin")
        shown = explain(client, admin_headers, enrolled)
        assert shown["stored_status"] == "in_grace"
        clock.advance(hours=4)  # 25 hours since the failure was first seen
        enrolled.checkin(client, now=clock(), posture=bad)
        admin_headers = headers_for(app, "it_admin")
        assert explain(client, admin_headers, enrolled)["stored_status"] == "non_compliant"
        assert ("block_secure_side", ["device.encryption_required"]) in self._due(
            client, admin_headers
        )

    @staticmethod
    def _due(client: TestClient, headers: dict[str, str]) -> list[tuple[str, list[str]]]:
        due = client.get("/api/v1/compliance/actions", headers=headers).json()
        return [(a["action"], a["rules"]) for a in due]

    def test_the_privacy_contract_limits_what_is_stored(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
        clock: FakeClock,
    ) -> None:
        contract = ["model", "android_version", "sdk", "encrypted", "screen_lock"]
        put_policy(
            client,
            admin_headers,
            {"name": "private", "personal_side": {"privacy_contract": contract}},
        )
        apply(client, admin_headers, "fleet", "private")
        enrolled.checkin(client, now=clock())
        stored = client.get(f"/api/v1/devices/{enrolled.device_id}", headers=admin_headers).json()[
            "posture"
        ]
        assert stored["apps"] == {"work": ["uk.police.optik"]}
        assert "usb_debugging" not in stored and "security_patch" not in stored
        assert stored["encrypted"] is True

    def test_explain_shows_layers_and_provenance(
        self, client: TestClient, admin_headers: dict[str, str], clock: FakeClock
    ) -> None:
        device = SimulatedDevice()
        device.enrol(client, create_token(client, admin_headers, group="specialist")["token"])
        for name in ("fleet-baseline", "specialist-unit", "device-override"):
            document = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
            assert put_policy(client, admin_headers, document).status_code == 201
        apply(client, admin_headers, "fleet", "fleet-baseline")
        apply(client, admin_headers, "group/specialist", "specialist-unit")
        apply(client, admin_headers, f"device/{device.device_id}", "rural-j5-exception")
        shown = explain(client, admin_headers, device)
        assert [layer["policy"] for layer in shown["layers"]] == [
            "fleet-baseline",
            "specialist-unit",
            "rural-j5-exception",
        ]
        settings = {s["path"]: s for s in shown["settings"]}
        assert settings["device.passcode.min_length"]["value"] == 8
        assert settings["device.passcode.min_length"]["layers"] == ["group:specialist"]
        assert settings["secure_side.offline_grace_hours"]["how"] == "override"
        assert settings["secure_side.offline_grace_hours"]["value"] == 36
        assert shown["status"] == "unknown"  # never checked in: nothing is known yet


class TestBadRequests:
    def test_unknown_things_are_named(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        actions = client.get("/api/v1/compliance/actions?state=bogus", headers=admin_headers)
        assert error_of(actions) == "invalid_filter"
        assert error_of(client.get("/api/v1/devices/ffff0000/policy", headers=admin_headers)) == (
            "device_not_found"
        )
        assert error_of(client.get("/api/v1/policies/nope", headers=admin_headers)) == (
            "policy_not_found"
        )
        body = client.put("/api/v1/policies/x", json={"document": [1]}, headers=admin_headers)
        assert body.status_code == 422
        missing = client.put("/api/v1/policies/x", json={}, headers=admin_headers)
        assert missing.status_code == 422

    @pytest.mark.parametrize("depth", [300, 900, 5000])
    def test_a_document_nested_hundreds_deep_is_a_clear_4xx(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], depth: int
    ) -> None:
        nested = "[" * depth + "]" * depth
        headers = {**admin_headers, "content-type": "application/json"}
        stored = client.put(
            "/api/v1/policies/deep",
            content='{"document": {"name": "deep", "description": ' + nested + "}}",
            headers=headers,
        )
        checked = client.post("/api/v1/policies/validate", content=nested, headers=headers)
        if depth < 1000:  # JSON the parser can follow: the document's own problem, located
            assert (stored.status_code, error_of(stored)) == (422, "invalid_policy")
            assert stored.json()["detail"] == [{"field": "description", "problem": "must be text"}]
            assert checked.json()["valid"] is False
        else:  # past what the JSON parser follows: said so, not a generic parse error
            for response in (stored, checked):
                assert (response.status_code, error_of(response)) == (400, "malformed_body")
                assert response.json()["detail"] == "the request body is nested too deeply to read"
        assert row_counts(app.state.context.database, PolicyVersion) == {"PolicyVersion": 0}

    def test_a_retired_device_cannot_take_a_policy(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
    ) -> None:
        put_policy(client, admin_headers, BASELINE)
        retire(client, app, str(enrolled.device_id), headers=admin_headers, reason="lost")
        refused = apply(client, admin_headers, f"device/{enrolled.device_id}", "baseline")
        assert refused.status_code == 409


class TestSummaryAndInventory:
    def test_fleet_summary_and_inventory_filter(
        self, client: TestClient, admin_headers: dict[str, str], clock: FakeClock
    ) -> None:
        baseline_for_fleet(client, admin_headers)
        token = create_token(client, admin_headers, uses=5)["token"]
        devices = [SimulatedDevice() for _ in range(3)]
        for device in devices:
            assert device.enrol(client, token).status_code == 201
        devices[0].checkin(client, now=clock(), posture=devices[0].posture(screen_lock=PIN_LOCK))
        devices[1].checkin(
            client, now=clock(), posture=devices[1].posture(screen_lock=PIN_LOCK, encrypted=False)
        )

        summary = client.get("/api/v1/compliance/summary", headers=admin_headers).json()
        assert summary["devices"] == 3
        assert summary["by_status"] == {"compliant": 1, "in_grace": 1, "not_evaluated": 1}
        assert summary["failing_rules"] == [{"rule": "device.encryption_required", "devices": 1}]
        assert summary["actions_due"] == {"notify": 1}
        listed = client.get("/api/v1/devices?compliance=in_grace", headers=admin_headers).json()
        assert [d["serial"] for d in listed["items"]] == [devices[1].serial]
        bad = client.get("/api/v1/devices?compliance=great", headers=admin_headers)
        assert error_of(bad) == "invalid_filter"
