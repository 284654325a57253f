"""Step-up over the API: each action that cannot be undone (approving a full wipe or a
retirement, a policy for the whole fleet, an evidential bundle, removing someone's factor)
is refused without a second factor used in the last minutes, changes nothing when refused,
and goes ahead with one; the actions around them do not ask."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.auth.models import StaffUser
from mdm_server.commands.models import Command
from mdm_server.config import Settings
from mdm_server.policies.models import PolicyAssignment
from tests.conftest import FakeClock, make_settings
from tests.factories.commands import send
from tests.factories.staff import (
    bearer,
    context_of,
    create_staff,
    second_factor_code,
    sign_in,
)
from tests.server.test_policies import BASELINE, apply, put_policy
from tests.support import audit_events, error_of, row_counts

DAY = {"from": "2026-11-21T00:00:00Z", "to": "2026-11-22T00:00:00Z"}
Action = Callable[[dict[str, str]], Any]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Second factors required of IT administrators and auditors, as a force turns them on."""
    return make_settings(tmp_path / "data", second_factor_required=True)


def stepped_up(client: TestClient, app: FastAPI, user: StaffUser) -> dict[str, str]:
    """Headers with the token `POST /api/v1/auth/step-up` returns for a current code, given
    with a token from a sign-in whose second factor is long past."""
    stale = bearer(app, user, stepped_up=False)
    answer = client.post(
        "/api/v1/auth/step-up", headers=stale, json={"code": second_factor_code(app, user)}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def refused_for_want_of_a_factor(response: Any) -> None:
    assert (response.status_code, error_of(response)) == (403, "step_up_required"), response.text
    assert "tabard mfa step-up" in response.json()["detail"]


class TestGuardedActions:
    @pytest.mark.parametrize("kind", ["wipe_device", "retire"])
    def test_approving_a_full_wipe_or_a_retirement(
        self, app: FastAPI, client: TestClient, enrolled: Any, kind: str
    ) -> None:
        asker = create_staff(app, role="it_admin", username="asker")
        if kind == "retire":
            asked = client.post(
                f"/api/v1/devices/{enrolled.serial}/retire",
                json={"reason": "handed back"},
                headers=bearer(app, asker),
            )
            assert asked.status_code == 202, asked.text
            (command,) = asked.json()["commands"]
        else:
            command = send(client, bearer(app, asker), enrolled.serial, kind, reason="stolen")
        approver = create_staff(app, role="it_admin", username="approver")
        path = f"/api/v1/commands/{command['id']}/approve"

        refused_for_want_of_a_factor(
            client.post(path, headers=bearer(app, approver, stepped_up=False))
        )
        database = context_of(app).database
        with database.unit_of_work(write=False) as session:
            stored = session.get(Command, uuid.UUID(command["id"]))
            assert stored is not None and stored.state == "pending_approval"
        assert audit_events(database, "command.approved") == []

        approved = client.post(path, headers=stepped_up(client, app, approver))
        assert approved.status_code == 200, approved.text
        assert approved.json()["approved_by"] == "approver"

    def test_a_policy_for_the_whole_fleet_but_not_for_a_group_or_a_device(
        self, app: FastAPI, client: TestClient, enrolled: Any
    ) -> None:
        admin = create_staff(app, role="it_admin")
        assert put_policy(client, bearer(app, admin), BASELINE).status_code == 201
        stale = bearer(app, admin, stepped_up=False)

        refused_for_want_of_a_factor(apply(client, stale, "fleet", "baseline"))
        assert row_counts(context_of(app).database, PolicyAssignment) == {"PolicyAssignment": 0}
        assert apply(client, stale, "group/north", "baseline").status_code == 200
        assert apply(client, stale, f"device/{enrolled.serial}", "baseline").status_code == 200

        applied = apply(client, stepped_up(client, app, admin), "fleet", "baseline")
        assert applied.status_code == 200, applied.text

    def test_an_evidential_bundle(self, app: FastAPI, client: TestClient) -> None:
        auditor = create_staff(app, role="auditor")
        stale = bearer(app, auditor, stepped_up=False)
        refused_for_want_of_a_factor(client.get("/api/v1/audit/export", params=DAY, headers=stale))
        assert audit_events(context_of(app).database, "audit.exported") == []
        assert client.get("/api/v1/audit/search", params=DAY, headers=stale).status_code == 200

        exported = client.get(
            "/api/v1/audit/export", params=DAY, headers=stepped_up(client, app, auditor)
        )
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"] == "application/zip"

    def test_a_step_up_lasts_its_window_and_no_longer(
        self, app: FastAPI, client: TestClient, clock: FakeClock
    ) -> None:
        auditor = create_staff(app, role="auditor")
        fresh = stepped_up(client, app, auditor)
        window = context_of(app).settings.step_up_max_age_s
        clock.advance(seconds=window - 1)
        assert client.get("/api/v1/audit/export", params=DAY, headers=fresh).status_code == 200
        clock.advance(seconds=2)
        late = client.get("/api/v1/audit/export", params=DAY, headers=fresh)
        assert late.status_code in (401, 403)  # the token itself may have expired by now
        if late.status_code == 403:
            refused_for_want_of_a_factor(late)

    def test_a_wrong_code_steps_nobody_up(self, app: FastAPI, client: TestClient) -> None:
        auditor = create_staff(app, role="auditor")
        stale = bearer(app, auditor, stepped_up=False)
        right = second_factor_code(app, auditor)
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        answer = client.post("/api/v1/auth/step-up", headers=stale, json={"code": wrong})
        assert (answer.status_code, error_of(answer)) == (401, "invalid_code")
        assert "access_token" not in answer.json()
        (failure,) = audit_events(context_of(app).database, "auth.second_factor_failed")
        assert failure.detail["username"] == auditor.username

    def test_a_stepped_up_token_ends_with_the_sign_in_it_came_from(
        self, app: FastAPI, client: TestClient
    ) -> None:
        auditor = create_staff(app, role="auditor")
        pair = sign_in(client, auditor.username).json()
        signed_in = {"Authorization": f"Bearer {pair['access_token']}"}
        answer = client.post(
            "/api/v1/auth/step-up",
            headers=signed_in,
            json={"code": second_factor_code(app, auditor)},
        )
        fresh = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        assert client.get("/api/v1/audit/export", params=DAY, headers=fresh).status_code == 200
        client.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]})
        assert client.get("/api/v1/audit/export", params=DAY, headers=fresh).status_code == 401


class TestWithoutFactorsRequired:
    """Where a force has not required second factors, someone who has none has nothing to
    step up with and goes ahead; someone who set one up is asked for it all the same."""

    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return make_settings(tmp_path / "data", second_factor_required=False)

    def test_no_factor_goes_ahead_and_a_factor_is_asked_for(
        self, app: FastAPI, client: TestClient
    ) -> None:
        without = create_staff(app, role="auditor", second_factor=False)
        with_one = create_staff(app, role="auditor", username="careful", second_factor=True)
        export = "/api/v1/audit/export"
        assert client.get(export, params=DAY, headers=bearer(app, without)).status_code == 200
        refused_for_want_of_a_factor(
            client.get(export, params=DAY, headers=bearer(app, with_one, stepped_up=False))
        )
