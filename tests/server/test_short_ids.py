"""Commands and flags named as people type them (STYLE.md, "What people see"): the whole id,
or the first 4 to 8 characters lists show; anything that cannot be an id is refused in plain
words, not with a validation dump (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.appropriate_use.models import Flag
from tests.conftest import FakeClock
from tests.factories.commands import send
from tests.factories.staff import context_of, headers_for


def add_flag(app: FastAPI, clock: FakeClock, flag_id: uuid.UUID) -> None:
    with context_of(app).database.unit_of_work() as session:
        session.add(
            Flag(
                id=flag_id,
                rule="self_search",
                officer="4021",
                key=flag_id.hex,
                score=0.5,
                raised_at=clock(),
                updated_at=clock(),
            )
        )


class TestCommandIds:
    def test_a_short_id_reads_approves_and_cancels(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], enrolled: Any
    ) -> None:
        command = send(client, admin_headers, enrolled.serial, "wipe_device", reason="stolen")
        short = command["id"][:8]
        shown = client.get(f"/api/v1/commands/{short}", headers=admin_headers)
        assert shown.status_code == 200 and shown.json()["id"] == command["id"]
        second = headers_for(app, "it_admin")
        approved = client.post(f"/api/v1/commands/{short.upper()}/approve", headers=second)
        assert approved.status_code == 200 and approved.json()["state"] == "queued"
        cancelled = client.post(f"/api/v1/commands/{command['id'][:5]}/cancel", headers=second)
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"

    def test_what_cannot_be_an_id_is_refused_in_plain_words(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        for reference, status, code, detail in (
            ("abc", 400, "invalid_command_id", "'abc' is not a command id: give its first 8"),
            ("not-an-id", 400, "invalid_command_id", "'not-an-id' is not a command id"),
            ("x" * 300, 400, "invalid_command_id", "'" + "x" * 40 + "…' is not a command id"),
            ("deadbeef", 404, "command_not_found", "no command id starts with 'deadbeef'"),
        ):
            for method, path in (
                ("GET", f"/api/v1/commands/{reference}"),
                ("POST", f"/api/v1/commands/{reference}/approve"),
                ("POST", f"/api/v1/commands/{reference}/cancel"),
            ):
                answer = client.request(method, path, headers=admin_headers)
                assert answer.status_code == status, answer.text
                assert answer.json() == {"error": code, "detail": answer.json()["detail"]}
                assert answer.json()["detail"].startswith(detail), answer.text


class TestFlagIds:
    def test_a_short_id_reads_and_reviews_and_a_shared_start_is_refused(
        self, app: FastAPI, client: TestClient, clock: FakeClock
    ) -> None:
        auditor = headers_for(app, "auditor")
        first = uuid.UUID("abcd1234-0000-4000-8000-000000000001")
        add_flag(app, clock, first)
        assert client.get("/api/v1/audit/flags/abcd12", headers=auditor).json()["id"] == str(first)
        reviewed = client.post(
            "/api/v1/audit/flags/abcd1234/review",
            json={"decision": "escalated", "note": "a self search"},
            headers=auditor,
        )
        assert reviewed.status_code == 200 and reviewed.json()["status"] == "escalated"
        noted = client.post(
            "/api/v1/audit/flags/ABCD/notes", json={"note": "inspector told"}, headers=auditor
        )
        assert noted.status_code == 201

        add_flag(app, clock, uuid.UUID("abcd1234-0000-4000-8000-000000000002"))
        shared = client.get("/api/v1/audit/flags/abcd1234", headers=auditor)
        assert (shared.status_code, shared.json()["error"]) == (409, "ambiguous_flag")
        assert "give more of it" in shared.json()["detail"]
        whole = client.get(f"/api/v1/audit/flags/{first}", headers=auditor)
        assert whole.status_code == 200
        bad = client.get("/api/v1/audit/flags/zz", headers=auditor)
        assert (bad.status_code, bad.json()["error"]) == (400, "invalid_flag_id")
