"""The random justification sample (docs/appropriate-use.md): the officer asked through the
device, the answer recorded once in the audit log, and auditors reading it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.db import Database
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.factories.secure import NEW_PIN, assign, enter, officer_with_pin
from tests.factories.staff import context_of, headers_for
from tests.server.test_appropriate_use import WATCHFUL
from tests.server.test_audit_search import vehicle
from tests.server.test_secure import Scene, make_scene
from tests.support import audit_events, error_of


@pytest.fixture
def auditor(app: FastAPI) -> dict[str, str]:
    return headers_for(app, "auditor")


@pytest.fixture
def token(scene: Scene) -> str:
    return str(scene.first_entry()["session_token"])


class TestJustificationSample:
    @pytest.fixture
    def scene(
        self,
        app: FastAPI,
        client: TestClient,
        admin_headers: dict[str, str],
        enrolled: SimulatedDevice,
        clock: FakeClock,
    ) -> Scene:
        always = copy.deepcopy(WATCHFUL)
        always["appropriate_use"]["justification_sample_rate"] = 1.0
        return make_scene(app, client, admin_headers, enrolled, clock, policy=always)

    def pending(self, scene: Scene, token: str) -> Any:
        path = "/api/v1/device/justifications"
        headers = scene.device.auth("GET", path, now=scene.clock())
        return scene.client.get(path, headers={**headers, "X-Tabard-Session": token})

    def answer(self, scene: Scene, token: str, request_id: str, text: str) -> Any:
        path = f"/api/v1/device/justifications/{request_id}"
        headers = scene.device.auth("POST", path, now=scene.clock())
        return scene.client.post(
            path, json={"answer": text}, headers={**headers, "X-Tabard-Session": token}
        )

    def test_the_officer_is_asked_and_the_answer_recorded(
        self,
        client: TestClient,
        auditor: dict[str, str],
        database: Database,
        scene: Scene,
        token: str,
    ) -> None:
        response = scene.transact(token, vehicle("AB12CDE"))
        asked = response.json()["justification"]
        assert asked["question"].startswith("This transaction was chosen at random")
        (waiting,) = self.pending(scene, token).json()["items"]
        assert waiting["id"] == asked["id"]
        assert waiting["transaction_id"] == response.json()["transaction_id"]
        too_short = self.answer(scene, token, asked["id"], "because")
        assert too_short.status_code == 422
        why = "Vehicle seen leaving a burglary at Sample Road; checking its keeper."
        answered = self.answer(scene, token, asked["id"], why)
        assert answered.status_code == 200, answered.text
        assert answered.json()["answer"] == why
        twice = self.answer(scene, token, asked["id"], why)
        assert twice.status_code == 409 and error_of(twice) == "already_answered"
        assert self.pending(scene, token).json() == {"items": []}

        (requested,) = audit_events(database, "appropriate_use.justification_requested")
        (given,) = audit_events(database, "appropriate_use.justification_given")
        assert requested.detail["transaction_id"] == response.json()["transaction_id"]
        assert given.detail["answer"] == why
        assert given.actor_id == str(scene.officer.id)
        seen = client.get(
            "/api/v1/audit/justifications", params={"answered": True}, headers=auditor
        ).json()
        assert [(j["id"], j["answer"]) for j in seen] == [(asked["id"], why)]
        assert len(audit_events(database, "appropriate_use.justifications_read")) == 1

    def test_another_officers_request_is_not_theirs_to_answer(
        self, app: FastAPI, client: TestClient, scene: Scene, token: str
    ) -> None:
        asked = scene.transact(token, vehicle("AB12CDE")).json()["justification"]
        other = officer_with_pin(app, client, scene.admin)
        assign(client, scene.admin, scene.device, other)
        opened = enter(
            client,
            scene.device,
            other.collar_number,
            now=scene.clock(),
            new_pin=NEW_PIN,
            acknowledge_policy_text_version="2026.2",
        )
        assert opened.status_code == 201, opened.text
        theirs = opened.json()["session_token"]
        response = self.answer(scene, theirs, asked["id"], "I was curious about the car.")
        assert response.status_code == 404
        assert self.pending(scene, theirs).json() == {"items": []}

    def test_a_rate_of_zero_asks_nobody(self, app: FastAPI, client: TestClient) -> None:
        from mdm_server.appropriate_use.justification import sampled_for_justification

        key = context_of(app).justification_key
        assert not any(sampled_for_justification(str(n), 0.0, key=key) for n in range(1000))
        share = sum(sampled_for_justification(str(n), 0.1, key=key) for n in range(4000)) / 4000
        assert 0.07 < share < 0.13
