"""The audit log's proofs over HTTP, checked as an outside verifier would: only with what the
API returns and the verifier key it publishes."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.audit import merkle
from mdm_server.audit.notes import NoteVerifier
from mdm_server.db import Database
from tests.audit.log import checkpoint_app, write_events
from tests.factories.staff import headers_for
from tests.support import audit_events, error_of


def _b64(values: list[str]) -> list[bytes]:
    return [base64.b64decode(value) for value in values]


@pytest.fixture
def auditor(app: FastAPI) -> dict[str, str]:
    return headers_for(app, "auditor")


def _signed(client: TestClient) -> tuple[int, bytes]:
    key = client.get("/api/v1/audit/verifier-key").text
    note = client.get("/api/v1/audit/checkpoint").text
    checkpoint = NoteVerifier.parse(key).open(note)
    return checkpoint.size, checkpoint.root


class TestProofs:
    def test_no_checkpoint_yet_is_a_404_saying_when(self, client: TestClient) -> None:
        response = client.get("/api/v1/audit/checkpoint")
        assert response.status_code == 404
        assert "no checkpoint" in response.json()["detail"]

    def test_every_event_is_proven_in_the_signed_checkpoint(
        self, app: FastAPI, client: TestClient, database: Database, auditor: dict[str, str]
    ) -> None:
        write_events(database, 11)
        checkpoint_app(app)
        size, root = _signed(client)
        assert response_type(client) == "text/plain; charset=utf-8"
        for seq in range(1, size + 1):
            event = client.get(f"/api/v1/audit/events/{seq}", headers=auditor).json()
            leaf = merkle.leaf_hash(base64.b64decode(event["canonical"]))
            assert event["event"] == json.loads(base64.b64decode(event["canonical"]))
            assert event["seq"] == event["event"]["seq"] == seq
            proof = client.get(f"/api/v1/audit/proof/inclusion?seq={seq}&size={size}").json()
            merkle.verify_inclusion(seq - 1, size, leaf, _b64(proof["proof"]), root)

    def test_consistency_between_two_checkpoints(
        self, app: FastAPI, client: TestClient, database: Database
    ) -> None:
        write_events(database, 5)
        checkpoint_app(app)
        first, first_root = _signed(client)
        write_events(database, 9, start=5)
        checkpoint_app(app)
        second, second_root = _signed(client)
        proof = client.get(f"/api/v1/audit/proof/consistency?from={first}&to={second}").json()
        merkle.verify_consistency(first, second, first_root, second_root, _b64(proof["proof"]))
        assert (first, second) == (5, 14)

    @pytest.mark.parametrize(
        ("url", "status", "says"),
        [
            ("/api/v1/audit/proof/inclusion?seq=5&size=4", 400, "not in a tree of 4"),
            ("/api/v1/audit/proof/inclusion?seq=1&size=99", 400, "holds 6 events, not 99"),
            ("/api/v1/audit/proof/inclusion?seq=0&size=3", 422, "seq"),
            ("/api/v1/audit/proof/inclusion?size=3", 422, "seq"),
            ("/api/v1/audit/proof/consistency?from=4&to=2", 400, "must not be greater"),
            ("/api/v1/audit/proof/consistency?from=0&to=2", 422, "from"),
            ("/api/v1/audit/proof/consistency?from=2&to=50", 400, "holds 6 events"),
        ],
    )
    def test_impossible_requests_say_what_to_fix(
        self, client: TestClient, database: Database, url: str, status: int, says: str
    ) -> None:
        write_events(database, 6)
        response = client.get(url)
        assert response.status_code == status, response.text
        assert says in json.dumps(response.json()["detail"])


class TestEvents:
    def test_only_auditors_read_events_and_each_read_is_audited(
        self, app: FastAPI, client: TestClient, database: Database, auditor: dict[str, str]
    ) -> None:
        write_events(database, 2)
        refused = client.get("/api/v1/audit/events/1", headers=headers_for(app, "it_admin"))
        assert refused.status_code == 403
        assert client.get("/api/v1/audit/events/1").status_code == 401
        assert client.get("/api/v1/audit/events/2", headers=auditor).status_code == 200
        (read,) = [e for e in audit_events(database) if e.action == "audit.event_read"]
        assert (read.target_id, read.actor_role) == ("2", "auditor")

    def test_a_missing_event_is_a_404(
        self, client: TestClient, database: Database, auditor: dict[str, str]
    ) -> None:
        response = client.get("/api/v1/audit/events/77", headers=auditor)
        assert response.status_code == 404
        assert error_of(response) == "not_found"


def response_type(client: TestClient) -> str:
    return client.get("/api/v1/audit/checkpoint").headers["content-type"]
