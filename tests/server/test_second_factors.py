"""Second factors: setting one up, signing in with a code, replays, recovery codes, the
mandatory set-up for IT administrators and auditors, and step-up."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.auth.models import StaffUser
from mdm_server.config import Settings
from tests.conftest import FakeClock, make_settings
from tests.factories.staff import (
    AUTHENTICATORS,
    PASSWORD,
    bearer,
    context_of,
    create_staff,
    second_factor_code,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Second factors required of IT administrators and auditors, as a force turns them on."""
    return make_settings(tmp_path / "data", second_factor_required=True)


def _password(client: TestClient, user: StaffUser) -> str:
    response = client.post(
        "/api/v1/auth/login", json={"username": user.username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["second_factor_required"] is True and "access_token" not in body
    return str(body["challenge_token"])


def _code(client: TestClient, challenge: str, code: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/login/code", json={"challenge_token": challenge, "code": code})


class TestEnrolment:
    def test_a_factor_is_confirmed_by_a_current_code_and_gives_ten_recovery_codes(
        self, app: FastAPI, client: TestClient
    ) -> None:
        headers = bearer(app, create_staff(app, role="supervisor"))
        started = client.post("/api/v1/auth/mfa/enrol", headers=headers)
        assert started.status_code == 201, started.text
        secret = started.json()["secret"]
        assert started.json()["otpauth_uri"].startswith("otpauth://totp/Tabard:")
        qr = client.get("/api/v1/auth/mfa/enrol/qr.svg", headers=headers)
        assert qr.status_code == 200 and qr.text.startswith("<svg")
        wrong = client.post(
            "/api/v1/auth/mfa/enrol/confirm", headers=headers, json={"code": "000000"}
        )
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_code"
        now = context_of(app).clock()
        done = client.post(
            "/api/v1/auth/mfa/enrol/confirm",
            headers=headers,
            json={"code": pyotp.TOTP(secret).at(now)},
        )
        assert done.status_code == 200, done.text
        assert len(set(done.json()["recovery_codes"])) == 10
        # The secret is never shown again.
        assert client.get("/api/v1/auth/mfa/enrol/qr.svg", headers=headers).status_code == 404
        again = client.post("/api/v1/auth/mfa/enrol", headers=headers)
        assert again.status_code == 409
        status = client.get("/api/v1/auth/mfa", headers=headers).json()
        assert status["enrolled"] and status["recovery_codes_left"] == 10

    def test_the_secret_is_stored_wrapped_not_in_clear(self, app: FastAPI) -> None:
        user = create_staff(app, role="auditor")
        from mdm_server.auth import repository

        with context_of(app).database.unit_of_work(write=False) as session:
            factor = repository.get_factor(session, user.id)
        assert factor is not None
        assert AUTHENTICATORS[user.id].secret.encode() not in factor.secret_wrapped


class TestSignIn:
    def test_password_then_code_gives_tokens_saying_a_factor_was_used(
        self, app: FastAPI, client: TestClient
    ) -> None:
        user = create_staff(app, role="it_admin")
        response = _code(client, _password(client, user), second_factor_code(app, user))
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        claims = context_of(app).staff_tokens.verify(token, now=context_of(app).clock())
        assert claims.factor_at is not None
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200

    def test_the_challenge_is_not_an_access_token(self, app: FastAPI, client: TestClient) -> None:
        user = create_staff(app, role="it_admin")
        challenge = _password(client, user)
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {challenge}"})
        assert me.status_code == 401

    def test_a_wrong_code_is_refused_and_counts_toward_the_throttle(
        self, app: FastAPI, client: TestClient
    ) -> None:
        user = create_staff(app, role="it_admin")
        challenge = _password(client, user)
        free = context_of(app).settings.login_free_failures
        for _ in range(free):
            assert _code(client, challenge, "123456").status_code in (401,)
        held = _code(client, challenge, second_factor_code(app, user))
        assert held.status_code == 429, held.text

    def test_a_code_is_refused_the_second_time(self, app: FastAPI, client: TestClient) -> None:
        user = create_staff(app, role="it_admin")
        code = second_factor_code(app, user)
        assert _code(client, _password(client, user), code).status_code == 200
        replay = _code(client, _password(client, user), code)
        assert replay.status_code == 401 and replay.json()["error"] == "invalid_code"

    def test_a_recovery_code_works_once(self, app: FastAPI, client: TestClient) -> None:
        user = create_staff(app, role="auditor")
        recovery = AUTHENTICATORS[user.id].recovery_codes.pop()
        assert _code(client, _password(client, user), recovery.upper()).status_code == 200
        assert _code(client, _password(client, user), recovery).status_code == 401

    def test_an_expired_challenge_is_refused(
        self, app: FastAPI, client: TestClient, clock: FakeClock
    ) -> None:
        user = create_staff(app, role="it_admin")
        challenge = _password(client, user)
        clock.advance(seconds=301)
        response = _code(client, challenge, second_factor_code(app, user))
        assert response.status_code == 401 and response.json()["error"] == "invalid_challenge"


class TestMandatory:
    def test_an_it_admin_without_a_factor_may_only_set_one_up(
        self, app: FastAPI, client: TestClient
    ) -> None:
        user = create_staff(app, role="it_admin", second_factor=False)
        pair = client.post(
            "/api/v1/auth/login", json={"username": user.username, "password": PASSWORD}
        ).json()
        assert pair["second_factor_enrolment_required"] is True
        headers = {"Authorization": f"Bearer {pair['access_token']}"}
        for method, path in [
            ("GET", "/api/v1/users"),
            ("GET", "/api/v1/devices"),
        ]:
            refused = client.request(method, path, headers=headers)
            assert refused.status_code == 403, path
            assert refused.json()["error"] == "second_factor_enrolment_required"
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
        assert client.post("/api/v1/auth/mfa/enrol", headers=headers).status_code == 201

    def test_every_other_route_refuses_an_auditor_without_a_factor(
        self, app: FastAPI, client: TestClient
    ) -> None:
        from mdm_server.deps import StaffAccess, declared_routes

        headers = bearer(app, create_staff(app, role="auditor", second_factor=False))
        allowed = {
            "/api/v1/auth/mfa",
            "/api/v1/auth/mfa/enrol",
            "/api/v1/auth/mfa/enrol/qr.svg",
            "/api/v1/auth/mfa/enrol/confirm",
            "/api/v1/auth/passkeys",
            "/api/v1/auth/passkeys/enrol/options",
            "/api/v1/auth/me",
            "/api/v1/auth/password",
        }
        for route in declared_routes(app):
            rule = route.rules[0] if route.rules else None
            if not isinstance(rule, StaffAccess) or "auditor" not in rule.roles:
                continue
            if route.path in allowed or not route.path.startswith("/api/"):
                continue
            path = route.path
            for name in route.param_names:
                path = path.replace("{" + name + "}", "x")
            for method in route.methods:
                response = client.request(method, path, headers=headers)
                assert response.status_code == 403, (method, path, response.text)


class TestStepUp:
    def test_removing_someones_factor_needs_a_fresh_second_factor(
        self, app: FastAPI, client: TestClient, clock: FakeClock
    ) -> None:
        admin = create_staff(app, role="it_admin")
        lost = create_staff(app, role="auditor")
        stale = bearer(app, admin, stepped_up=False)
        refused = client.delete(f"/api/v1/users/{lost.username}/mfa", headers=stale)
        assert refused.status_code == 403 and refused.json()["error"] == "step_up_required"
        assert "/api/v1/auth/step-up" in refused.json()["detail"]
        stepped = client.post(
            "/api/v1/auth/step-up", headers=stale, json={"code": second_factor_code(app, admin)}
        )
        assert stepped.status_code == 200, stepped.text
        fresh = {"Authorization": f"Bearer {stepped.json()['access_token']}"}
        clock.advance(seconds=context_of(app).settings.step_up_max_age_s + 1)
        late = client.delete(f"/api/v1/users/{lost.username}/mfa", headers=fresh)
        assert late.status_code in (401, 403)
        fresh = bearer(app, admin)
        assert client.delete(f"/api/v1/users/{lost.username}/mfa", headers=fresh).status_code == 204
