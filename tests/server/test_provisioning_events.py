"""Provisioning runs on the audit record: each event under the IT user who ran it, with the
device serial; bad batches refused whole; other roles refused."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.db import Database
from tests.factories.staff import headers_for
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
