"""A transaction the server refused consulted nothing and disclosed nothing: it is recorded,
but the appropriate-use rules never flag it, neither as it is recorded nor in the nightly
review (docs/appropriate-use.md)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.db import Database
from mdm_server.scheduler.jobs import review_appropriate_use
from tests.conftest import FakeClock
from tests.factories.devices import SimulatedDevice
from tests.factories.staff import context_of, headers_for
from tests.server.test_appropriate_use import SAM, WATCHFUL, load, own, queue
from tests.server.test_audit_search import person
from tests.server.test_secure import Scene, make_scene
from tests.support import audit_events

# person_search allows INVESTIGATION and SAFEGUARDING only (tests/server/test_secure.py POLICY)
REFUSED_SELF_SEARCH: dict[str, Any] = {**person("Example", "Sam"), "purpose": "ROAD_TRAFFIC"}


@pytest.fixture
def scene(
    app: FastAPI,
    client: TestClient,
    admin_headers: dict[str, str],
    enrolled: SimulatedDevice,
    clock: FakeClock,
) -> Scene:
    return make_scene(app, client, admin_headers, enrolled, clock, policy=WATCHFUL)


@pytest.fixture
def auditor(app: FastAPI) -> dict[str, str]:
    return headers_for(app, "auditor")


@pytest.fixture
def token(scene: Scene) -> str:
    return str(scene.first_entry()["session_token"])


def refused(scene: Scene, token: str) -> None:
    response = scene.transact(token, REFUSED_SELF_SEARCH)
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "purpose_not_allowed"


class TestRefusedTransactionsRaiseNoFlag:
    def test_not_as_they_are_recorded(
        self,
        client: TestClient,
        auditor: dict[str, str],
        database: Database,
        scene: Scene,
        token: str,
    ) -> None:
        load(client, auditor, own(scene.officer.collar_number, own=[SAM]))
        refused(scene, token)
        (event,) = audit_events(database, "transaction.person_search")
        assert event.detail["outcome"] == "refused:purpose_not_allowed"  # recorded all the same
        assert queue(client, auditor, status="all") == []
        assert audit_events(database, "appropriate_use.flag_raised") == []
        answered = scene.transact(token, person("Example", "Sam"))  # the same search, answered
        assert answered.status_code == 200, answered.text
        (flag,) = queue(client, auditor)
        assert (flag["rule"], flag["evidence_count"]) == ("self_search", 1)

    def test_not_by_the_nightly_review(
        self,
        app: FastAPI,
        client: TestClient,
        auditor: dict[str, str],
        database: Database,
        scene: Scene,
        token: str,
    ) -> None:
        refused(scene, token)
        # Told only now that the subject is the officer's own: only the night can flag it.
        load(client, auditor, own(scene.officer.collar_number, own=[SAM]))
        context = context_of(app)
        assert review_appropriate_use(context, scene.clock()) == {
            "flags_raised": 0,
            "flags_updated": 0,
        }
        assert queue(client, auditor, status="all") == []
        assert audit_events(database, "appropriate_use.flag_raised") == []
