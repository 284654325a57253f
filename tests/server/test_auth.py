from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from mdm_server.auth.models import RefreshToken
from mdm_server.auth.tokens import KEY_FILE
from tests.conftest import FakeClock
from tests.factories.staff import PASSWORD, bearer, context_of, create_staff, sign_in
from tests.support import audit_events, count, error_of


def _login(client: TestClient, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return sign_in(client, username, password)


class TestLogin:
    def test_returns_a_short_lived_eddsa_token_and_a_refresh_token(
        self, app: FastAPI, client: TestClient
    ) -> None:
        user = create_staff(app, role="auditor")
        response = _login(client, user.username)
        assert response.status_code == 200
        pair = response.json()
        header = jwt.get_unverified_header(pair["access_token"])
        claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
        assert header["alg"] == "EdDSA"
        assert claims["roles"] == ["auditor"]
        assert claims["aud"] == "http://testserver/api/v1"
        assert claims["iss"] == "http://testserver"
        assert 0 < claims["exp"] - claims["iat"] <= 15 * 60
        assert claims["jti"]
        assert pair["refresh_token"] and pair["user"]["username"] == user.username

    def test_audits_success_and_failure(self, app: FastAPI, client: TestClient) -> None:
        user = create_staff(app, role="supervisor")
        _login(client, user.username, "wrong password!!")
        _login(client, "nobody-here", "whatever password")
        _login(client, user.username)
        database = app.state.context.database
        actions = [
            (e.action, e.detail.get("reason"))
            for e in audit_events(database)
            if e.action.startswith("auth.")
        ]
        assert actions == [
            ("auth.login_failed", "bad_password"),
            ("auth.login_failed", "unknown_user"),
            ("auth.login", None),
        ]

    def test_refuses_a_wrong_password_and_an_unknown_user_alike(
        self, app: FastAPI, client: TestClient
    ) -> None:
        user = create_staff(app)
        wrong = _login(client, user.username, "not the password")
        unknown = _login(client, "ghost", "not the password")
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json()

    def test_refuses_a_disabled_account(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        user = create_staff(app, role="auditor")
        client.post(f"/api/v1/users/{user.username}/disable", headers=admin_headers)
        response = _login(client, user.username)
        assert response.status_code == 401
        assert error_of(response) == "account_disabled"

    def test_a_login_upgrades_a_hash_made_with_an_older_cost(
        self, app: FastAPI, client: TestClient
    ) -> None:
        from mdm_server.auth import repository
        from mdm_server.crypto.passwords import PasswordHasher
        from tests.conftest import make_settings

        context = app.state.context
        cheaper = PasswordHasher(make_settings(context.settings.data_dir, argon2_memory_kib=16))
        user = create_staff(app)
        with context.database.unit_of_work() as session:
            stored = repository.get_user(session, user.id)
            assert stored is not None
            stored.password_hash = cheaper.hash(PASSWORD)
            session.add(stored)
        assert _login(client, user.username).status_code == 200
        with context.database.unit_of_work(write=False) as session:
            upgraded = repository.get_user(session, user.id)
        assert upgraded is not None and upgraded.password_hash is not None
        assert "m=16," not in upgraded.password_hash
        assert not context.passwords.needs_rehash(upgraded.password_hash)
        assert _login(client, user.username).status_code == 200


class TestAccessToken:
    def test_expires(self, app: FastAPI, client: TestClient, clock: FakeClock) -> None:
        headers = bearer(app, create_staff(app))
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
        clock.advance(minutes=15, seconds=1)
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 401

    def test_alg_none_is_refused(self, app: FastAPI, client: TestClient) -> None:
        token = bearer(app, create_staff(app))["Authorization"].split()[1]
        claims = jwt.decode(token, options={"verify_signature": False})
        forged = jwt.encode(claims, None, algorithm="none")
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401

    def test_a_token_with_a_forged_role_is_refused(self, app: FastAPI, client: TestClient) -> None:
        token = bearer(app, create_staff(app, role="auditor"))["Authorization"].split()[1]
        head, body, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(body + "=="))
        claims["roles"] = ["it_admin"]
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        forged = {"Authorization": f"Bearer {head}.{body}.{signature}"}
        assert client.get("/api/v1/users", headers=forged).status_code == 401

    @pytest.mark.parametrize(
        ("lifetime_s", "issued_ahead_s", "accepted"),
        [
            (15 * 60, 0, True),  # exactly the configured lifetime
            (15 * 60 + 1, 0, False),
            (10 * 365 * 86400, 0, False),  # a correctly signed token good for ten years
            (60, 30, True),  # issued within the clock skew
            (60, 3600, False),  # issued an hour in the future
        ],
    )
    def test_a_signed_token_must_keep_to_the_configured_lifetime(
        self,
        app: FastAPI,
        client: TestClient,
        clock: FakeClock,
        lifetime_s: int,
        issued_ahead_s: int,
        accepted: bool,
    ) -> None:
        context = context_of(app)
        key = context.keys.private_key(KEY_FILE, ed25519.Ed25519PrivateKey.generate)
        token = bearer(app, create_staff(app))["Authorization"].split()[1]
        claims = jwt.decode(token, options={"verify_signature": False})
        claims["iat"] = int(clock().timestamp()) + issued_ahead_s
        claims["exp"] = claims["iat"] + lifetime_s
        forged = jwt.encode(claims, key, algorithm="EdDSA")
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == (200 if accepted else 401), response.text

    @pytest.mark.parametrize(
        ("token", "says"),
        [
            ("abc", "not a well-formed token"),
            ("__4.e30.c2ln", "not a well-formed token"),  # a header that is not UTF-8
            ("eyJhbGciOiJub25lIn0.e30.", "must be signed with EdDSA"),
        ],
    )
    def test_a_refused_token_is_explained_in_words(
        self, client: TestClient, token: str, says: str
    ) -> None:
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        detail = response.json()["detail"]
        assert detail.startswith("access token rejected: ") and says in detail
        assert "codec" not in detail and "padding" not in detail

    def test_disabling_an_account_ends_its_live_tokens(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        user = create_staff(app, role="auditor")
        headers = bearer(app, user)
        client.post(f"/api/v1/users/{user.username}/disable", headers=admin_headers)
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TestRefresh:
    def test_rotates_the_refresh_token(self, app: FastAPI, client: TestClient) -> None:
        user = create_staff(app)
        first = _login(client, user.username).json()
        second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert second.status_code == 200
        assert second.json()["refresh_token"] != first["refresh_token"]
        assert (
            client.get(
                "/api/v1/auth/me",
                headers={"Authorization": f"Bearer {second.json()['access_token']}"},
            ).status_code
            == 200
        )

    def test_reusing_a_spent_refresh_token_revokes_the_whole_login(
        self, app: FastAPI, client: TestClient
    ) -> None:
        user = create_staff(app)
        first = _login(client, user.username).json()
        second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        replay = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert replay.status_code == 401
        latest = client.post(
            "/api/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]}
        )
        assert latest.status_code == 401
        assert audit_events(app.state.context.database, "auth.refresh_reuse_detected")

    def test_a_revoked_login_s_access_tokens_stop_working_at_once(
        self, app: FastAPI, client: TestClient
    ) -> None:
        user = create_staff(app)
        first = _login(client, user.username).json()
        other = _login(client, user.username).json()  # the same person signed in elsewhere
        second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        tokens = [first["access_token"], second.json()["access_token"]]
        for token in tokens:
            assert client.get("/api/v1/auth/me", headers=_bearer(token)).status_code == 200
        replay = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert replay.status_code == 401
        for token in tokens:
            refused = client.get("/api/v1/auth/me", headers=_bearer(token))
            assert refused.status_code == 401
            assert "used twice" in refused.json()["detail"]
        # Another sign-in of the same person goes on.
        assert (
            client.get("/api/v1/auth/me", headers=_bearer(other["access_token"])).status_code == 200
        )
        client.post("/api/v1/auth/logout", json={"refresh_token": other["refresh_token"]})
        assert (
            client.get("/api/v1/auth/me", headers=_bearer(other["access_token"])).status_code == 401
        )

    def test_logout_revokes_the_refresh_token(self, app: FastAPI, client: TestClient) -> None:
        user = create_staff(app)
        pair = _login(client, user.username).json()
        assert (
            client.post(
                "/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}
            ).status_code
            == 204
        )
        after = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert after.status_code == 401

    def test_refresh_tokens_are_stored_only_as_digests(
        self, app: FastAPI, client: TestClient
    ) -> None:
        pair = _login(client, create_staff(app).username).json()
        database = app.state.context.database
        with database.unit_of_work(write=False) as session:
            digests = [token.token_digest for token in session.exec(select(RefreshToken))]
        assert pair["refresh_token"] not in digests
        assert count(database, RefreshToken) == 1


class TestPasswordChange:
    def test_a_pending_change_blocks_everything_but_the_change(
        self, app: FastAPI, client: TestClient
    ) -> None:
        user = create_staff(app, must_change_password=True)
        pair = _login(client, user.username).json()
        assert pair["password_change_required"] is True
        headers = {"Authorization": f"Bearer {pair['access_token']}"}
        blocked = client.get("/api/v1/users", headers=headers)
        assert blocked.status_code == 403
        assert error_of(blocked) == "password_change_required"
        changed = client.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": "a much better passphrase"},
            headers=headers,
        )
        assert changed.status_code == 200
        fresh = {"Authorization": f"Bearer {changed.json()['access_token']}"}
        assert client.get("/api/v1/users", headers=fresh).status_code == 200
        assert _login(client, user.username, "a much better passphrase").status_code == 200

    @pytest.mark.parametrize(
        ("current", "new", "code"),
        [
            ("wrong wrong wrong", "a much better passphrase", "invalid_credentials"),
            (PASSWORD, "short", "weak_password"),
        ],
    )
    def test_refuses_a_wrong_current_password_or_a_weak_new_one(
        self, app: FastAPI, client: TestClient, current: str, new: str, code: str
    ) -> None:
        user = create_staff(app, must_change_password=True)
        response = client.post(
            "/api/v1/auth/password",
            json={"current_password": current, "new_password": new},
            headers=bearer(app, user),
        )
        assert response.status_code in (400, 401)
        assert error_of(response) == code
