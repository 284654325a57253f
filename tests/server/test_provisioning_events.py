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
