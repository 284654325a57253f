"""Provisioning runs on the audit record: each event under the IT user who ran it, with the
device serial; bad batches refused whole; other roles refused."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.db import Database
from tests.factories.enrolment import create_token
from tests.factories.staff import create_staff, headers_for
from tests.server.test_policies import BASELINE, apply, put_policy
from tests.support import audit_events, error_of

URL = "/api/v1/provisioning/events"
RUN = str(uuid.uuid4())


def events(**step: Any) -> dict[str, Any]:
    return {
        "events": [
            {"kind": "run_started", "run_id": RUN, "devices": 1},
            {
                "kind": "step",
                "run_id": RUN,
                "device": "127.0.0.1:5555",
                "serial": "0123456789abcdef",
                "model": "SM-J530F",
                "step": 2,
                "step_key": "set_device_owner",
                "outcome": "done",
                "ms": 12,
                **step,
            },
        ]
    }


class TestRecordProvisioningEvents:
    def test_each_event_is_audited_under_the_it_user_with_the_serial(
        self, client: TestClient, admin_headers: dict[str, str], database: Database
    ) -> None:
        response = client.post(URL, json=events(), headers=admin_headers)
        assert response.status_code == 201 and response.json() == {"recorded": 2}
        (started,) = audit_events(database, "provisioning.run_started")
        (step,) = audit_events(database, "provisioning.step")
        assert started.actor_type == step.actor_type == "staff"
        assert step.actor_role == "it_admin"
        assert (step.target_type, step.target_id) == ("device_serial", "0123456789abcdef")
        assert step.detail["step_key"] == "set_device_owner" and step.detail["run_id"] == RUN
        assert step.detail["outcome"] == "done" and step.detail["ms"] == 12

    @pytest.mark.parametrize(
        "bad",
        [
            {"step": 0},
            {"serial": "abc; rm -rf /"},
            {"kind": "deleted_everything"},
            {"unexpected": 1},
            {"message": "x" * 2001},
        ],
    )
    def test_a_bad_event_refuses_the_whole_batch(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        database: Database,
        bad: dict[str, Any],
    ) -> None:
        response = client.post(URL, json=events(**bad), headers=admin_headers)
        assert response.status_code == 422 and error_of(response) == "invalid_request"
        assert [e for e in audit_events(database) if e.action.startswith("provisioning.")] == []

    def test_an_empty_batch_is_refused(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        assert client.post(URL, json={"events": []}, headers=admin_headers).status_code == 422

    @pytest.mark.parametrize("role", ["auditor", "supervisor", "officer"])
    def test_only_it_may_record_provisioning(
        self, app: FastAPI, client: TestClient, database: Database, role: str
    ) -> None:
        response = client.post(URL, json=events(), headers=headers_for(app, role))
        assert response.status_code == 403
        assert not [e for e in audit_events(database) if e.action.startswith("provisioning.")]

    def test_anonymous_callers_are_refused(self, client: TestClient) -> None:
        assert client.post(URL, json=events()).status_code == 401


def a_run(run_id: str, *, finished: bool = True) -> dict[str, Any]:
    """Two devices: one provisioned in two steps, one refused for its accounts."""
    good = {"device": "127.0.0.1:5555", "serial": "R58M0001", "model": "SM-J530F"}
    bad = {"device": "127.0.0.1:5556", "serial": "R58M0002", "model": "SM-T580"}
    run = [
        {"kind": "run_started", "run_id": run_id, "devices": 2},
        {"kind": "device_started", "run_id": run_id, "mode": "device_owner_work_profile", **good},
        {"kind": "step", "run_id": run_id, "step": 1, "step_key": "install_agent",
         "outcome": "done", **good},
        {"kind": "step", "run_id": run_id, "step": 2, "step_key": "set_device_owner",
         "outcome": "already", **good},
        {"kind": "device_finished", "run_id": run_id, "outcome": "provisioned", **good},
        {"kind": "device_finished", "run_id": run_id, "outcome": "refused",
         "message": "the device has a Google account; remove it first", **bad},
    ]  # fmt: skip
    if finished:
        run.append(
            {"kind": "run_finished", "run_id": run_id, "devices": 2, "outcome": "incomplete"}
        )
    return {"events": run}


class TestProvisioningRuns:
    def test_runs_are_read_back_newest_first_with_results_per_device(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        older, newer = str(uuid.uuid4()), str(uuid.uuid4())
        assert client.post(URL, json=a_run(older), headers=admin_headers).status_code == 201
        cut_short = a_run(newer, finished=False)
        assert client.post(URL, json=cut_short, headers=admin_headers).status_code == 201
        runs = client.get("/api/v1/provisioning/runs", headers=admin_headers).json()
        assert [run["run_id"] for run in runs] == [newer, older]
        assert runs[1]["outcome"] == "incomplete"
        assert runs[1]["results"] == {"provisioned": 1, "refused": 1}
        assert runs[0]["outcome"] is None and runs[0]["finished_at"] is None
        detail = client.get(f"/api/v1/provisioning/runs/{older}", headers=admin_headers).json()
        by_serial = {device["serial"]: device for device in detail["device_runs"]}
        assert by_serial["R58M0001"]["outcome"] == "provisioned"
        assert by_serial["R58M0001"]["mode"] == "device_owner_work_profile"
        assert [step["key"] for step in by_serial["R58M0001"]["steps"]] == [
            "install_agent",
            "set_device_owner",
        ]
        assert by_serial["R58M0002"]["outcome"] == "refused"
        assert "Google account" in by_serial["R58M0002"]["message"]

    def test_an_unknown_run_is_404(self, client: TestClient, admin_headers: dict[str, str]) -> None:
        response = client.get(f"/api/v1/provisioning/runs/{uuid.uuid4()}", headers=admin_headers)
        assert response.status_code == 404
        assert error_of(response) == "not_found"

    @pytest.mark.parametrize("role", ["auditor", "supervisor", "officer"])
    def test_only_it_reads_runs(self, app: FastAPI, client: TestClient, role: str) -> None:
        response = client.get("/api/v1/provisioning/runs", headers=headers_for(app, role))
        assert response.status_code == 403


CHECKS = "/api/v1/provisioning/checks"


class TestCheckProvisioningRun:
    def test_every_unknown_officer_and_group_and_a_disabled_officer_at_once(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        create_token(client, admin_headers, group="response")
        create_staff(app, role="officer", collar="C1234")
        create_staff(app, role="auditor", collar="A77")
        disabled = create_staff(app, role="officer", collar="C999")
        client.post(f"/api/v1/users/{disabled.username}/disable", headers=admin_headers)
        body = {
            "officers": ["C1234", "C0000", "A77", "C999", "C0000"],
            "groups": ["response", "reponse", "traffic"],
        }
        response = client.post(CHECKS, json=body, headers=admin_headers)
        assert response.status_code == 200, response.text
        assert response.json()["problems"] == [
            {"field": "officer", "value": "A77", "problem": "no officer has collar number A77"},
            {"field": "officer", "value": "C0000", "problem": "no officer has collar number C0000"},
            {"field": "officer", "value": "C999", "problem": "officer C999's account is disabled"},
            {
                "field": "group",
                "value": "reponse",
                "problem": "no enrolment token, device or group policy names group reponse",
            },
            {
                "field": "group",
                "value": "traffic",
                "problem": "no enrolment token, device or group policy names group traffic",
            },
        ]

    def test_a_group_with_a_policy_is_known(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        stored = put_policy(client, admin_headers, {**BASELINE, "name": "traffic-unit"})
        assert stored.status_code == 201, stored.text
        applied = apply(client, admin_headers, "group/traffic", "traffic-unit")
        assert applied.status_code == 200, applied.text
        answer = client.post(CHECKS, json={"groups": ["traffic"]}, headers=admin_headers).json()
        assert answer["problems"] == []

    def test_the_token_must_be_usable_for_every_device_still_to_enrol(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        token = create_token(client, admin_headers, group="response", uses=2)["token"]
        enough = {"token": token, "devices": 2}
        answer = client.post(CHECKS, json=enough, headers=admin_headers).json()
        assert answer == {"problems": [], "token_group": "response", "token_uses_left": 2}
        short = client.post(CHECKS, json={**enough, "devices": 3}, headers=admin_headers).json()
        assert short["problems"] == [
            {
                "field": "token",
                "value": None,
                "problem": "the enrolment token has 2 use(s) left for 3 device(s); make one "
                "with --uses 3 or more",
            }
        ]
        unknown = client.post(CHECKS, json={"token": "x" * 43}, headers=admin_headers).json()
        assert unknown["problems"][0]["problem"] == "enrolment token not recognised"

    def test_it_changes_nothing_and_never_records_the_token(
        self, client: TestClient, admin_headers: dict[str, str], database: Database
    ) -> None:
        token = create_token(client, admin_headers)["token"]
        before = len(audit_events(database))
        client.post(CHECKS, json={"token": token, "officers": ["C1"]}, headers=admin_headers)
        assert len(audit_events(database)) == before

    @pytest.mark.parametrize("role", ["auditor", "supervisor", "officer"])
    def test_only_it_may_check_a_run(self, app: FastAPI, client: TestClient, role: str) -> None:
        response = client.post(CHECKS, json={}, headers=headers_for(app, role))
        assert response.status_code == 403
