"""Passkeys through the API: registering several, signing in and stepping up with one, and
every bad answer refused with a 4xx and nothing kept but the audit event and the spent
challenge: another origin, another challenge, a replay, an unknown passkey, another person's,
a spoilt signature, a counter that did not rise."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.auth import passkeys, repository
from mdm_server.auth.models import RefreshToken, StaffUser
from mdm_server.db import Database
from tests.conftest import FakeClock
from tests.factories.passkeys import SoftPasskey, another_challenge
from tests.factories.staff import PASSWORD, bearer, context_of, create_staff
from tests.support import audit_events, count


def _fresh(app: FastAPI, user: StaffUser, *, stepped_up: bool = True) -> dict[str, str]:
    """An access token for `user`, saying a passkey was used just now unless not
    `stepped_up`."""
    context = context_of(app)
    now = context.clock()
    issued = context.staff_tokens.issue(
        user_id=user.id,
        username=user.username,
        role=user.role,
        password_change_required=False,
        factor_at=now if stepped_up else None,
        factor_method="hwk",
        now=now,
    )
    return {"Authorization": f"Bearer {issued.token}"}


def _register(
    client: TestClient, headers: dict[str, str], key: SoftPasskey, name: str = "Work phone"
) -> Any:
    options = client.post("/api/v1/auth/passkeys/enrol/options", headers=headers)
    assert options.status_code == 200, options.text
    body = options.json()
    answer = key.create(body["public_key"])
    return client.post(
        "/api/v1/auth/passkeys",
        headers=headers,
        json={"ceremony_id": body["ceremony_id"], "name": name, "credential": answer},
    )


def _with_passkey(app: FastAPI, client: TestClient, role: str = "supervisor") -> Any:
    user = create_staff(app, role=role, second_factor=False)
    key = SoftPasskey()
    registered = _register(client, bearer(app, user), key)
    assert registered.status_code == 201, registered.text
    return user, key


def _password(client: TestClient, user: StaffUser) -> dict[str, Any]:
    response = client.post(
        "/api/v1/auth/login", json={"username": user.username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["second_factor_required"] is True and "access_token" not in body
    return body


def _sign_in_options(client: TestClient, challenge: str) -> dict[str, Any]:
    options = client.post("/api/v1/auth/login/passkey/options", json={"challenge_token": challenge})
    assert options.status_code == 200, options.text
    body: dict[str, Any] = options.json()
    return body


def _finish(client: TestClient, challenge: str, ceremony: str, answer: dict[str, Any]) -> Any:
    return client.post(
        "/api/v1/auth/login/passkey",
        json={"challenge_token": challenge, "ceremony_id": ceremony, "credential": answer},
    )


def _stored(app: FastAPI, user: StaffUser) -> list[tuple[str, int, object]]:
    with context_of(app).database.unit_of_work(write=False) as session:
        return [
            (p.name, p.sign_count, p.last_used_at)
            for p in repository.list_passkeys(session, user.id)
        ]


class TestRegistration:
    def test_passkeys_are_registered_under_their_names_listed_and_audited(
        self, app: FastAPI, client: TestClient, database: Database
    ) -> None:
        user = create_staff(app, role="supervisor", second_factor=False)
        headers = bearer(app, user)
        first = _register(client, headers, SoftPasskey(), "Work phone")
        assert first.status_code == 201, first.text
        # Now that the account has a factor, a second passkey needs a step-up.
        stale = client.post("/api/v1/auth/passkeys/enrol/options", headers=headers)
        assert stale.status_code == 403 and stale.json()["error"] == "step_up_required"
        second = _register(client, _fresh(app, user), SoftPasskey(), "YubiKey")
        assert second.status_code == 201, second.text
        listed = client.get("/api/v1/auth/passkeys", headers=headers).json()
        assert [p["name"] for p in listed] == ["Work phone", "YubiKey"]
        enrolled = audit_events(database, "auth.second_factor_enrolled")
        assert [e.detail["passkey"] for e in enrolled] == ["Work phone", "YubiKey"]
        assert all(e.detail["kind"] == "passkey" for e in enrolled)
        assert _password(client, user)["methods"] == ["passkey"]

    def test_the_options_name_this_server_as_relying_party_and_prefer_verification(
        self, app: FastAPI, client: TestClient
    ) -> None:
        user = create_staff(app, role="officer")
        options = client.post(
            "/api/v1/auth/passkeys/enrol/options", headers=bearer(app, user)
        ).json()
        public_key = options["public_key"]
        assert public_key["rp"] == {"name": "Tabard", "id": "testserver"}
        assert public_key["authenticatorSelection"]["userVerification"] == "preferred"
        assert public_key["attestation"] == "none"

    @pytest.mark.parametrize(
        ("spoil", "reason"),
        [
            ({"origin": "http://testserver.evil.example"}, "wrong_origin"),
            ({"origin": "http://testserver:8443"}, "wrong_origin"),
        ],
    )
    def test_an_answer_made_for_another_origin_registers_nothing(
        self,
        app: FastAPI,
        client: TestClient,
        database: Database,
        spoil: dict[str, str],
        reason: str,
    ) -> None:
        user = create_staff(app, role="officer")
        headers = bearer(app, user)
        options = client.post("/api/v1/auth/passkeys/enrol/options", headers=headers).json()
        answer = SoftPasskey().create(options["public_key"], **spoil)
        refused = client.post(
            "/api/v1/auth/passkeys",
            headers=headers,
            json={"ceremony_id": options["ceremony_id"], "name": "Phone", "credential": answer},
        )
        assert refused.status_code == 400 and refused.json()["error"] == "passkey_refused"
        assert _stored(app, user) == []
        failed = audit_events(database, "auth.second_factor_failed")
        assert [e.detail["reason"] for e in failed] == [reason]

    def test_a_registration_challenge_is_good_once(self, app: FastAPI, client: TestClient) -> None:
        user = create_staff(app, role="officer")
        headers = bearer(app, user)
        options = client.post("/api/v1/auth/passkeys/enrol/options", headers=headers).json()
        answer = SoftPasskey().create(options["public_key"])
        body = {"ceremony_id": options["ceremony_id"], "name": "Phone", "credential": answer}
        assert client.post("/api/v1/auth/passkeys", headers=headers, json=body).status_code == 201
        again = client.post("/api/v1/auth/passkeys", headers=_fresh(app, user), json=body)
        assert again.status_code == 400 and again.json()["error"] == "passkey_refused"
        assert len(_stored(app, user)) == 1

    def test_a_malformed_answer_is_a_clear_400(self, app: FastAPI, client: TestClient) -> None:
        user = create_staff(app, role="officer")
        headers = bearer(app, user)
        options = client.post("/api/v1/auth/passkeys/enrol/options", headers=headers).json()
        refused = client.post(
            "/api/v1/auth/passkeys",
            headers=headers,
            json={"ceremony_id": options["ceremony_id"], "name": "x", "credential": {"id": 1}},
        )
        assert refused.status_code == 400
        assert "WebAuthn registration response" in refused.json()["detail"]

    def test_an_expired_registration_challenge_is_refused(
        self, app: FastAPI, client: TestClient, clock: FakeClock
    ) -> None:
        user = create_staff(app, role="officer")
        headers = bearer(app, user)
        options = client.post("/api/v1/auth/passkeys/enrol/options", headers=headers).json()
        answer = SoftPasskey().create(options["public_key"])
        clock.advance(seconds=passkeys.CEREMONY_TTL.total_seconds() + 1)
        refused = client.post(
            "/api/v1/auth/passkeys",
            headers=bearer(app, user),
            json={"ceremony_id": options["ceremony_id"], "name": "Phone", "credential": answer},
        )
        assert refused.status_code == 400 and "expired" in refused.json()["detail"]
        assert _stored(app, user) == []


class TestSignIn:
    def test_password_then_passkey_gives_tokens_saying_a_passkey_was_used(
        self, app: FastAPI, client: TestClient, database: Database
    ) -> None:
        user, key = _with_passkey(app, client)
        challenge = _password(client, user)["challenge_token"]
        options = _sign_in_options(client, challenge)
        assert options["public_key"]["allowCredentials"][0]["id"] == key.id
        assert options["public_key"]["userVerification"] == "preferred"
        done = _finish(client, challenge, options["ceremony_id"], key.get(options["public_key"]))
        assert done.status_code == 200, done.text
        claims = context_of(app).staff_tokens.verify(
            done.json()["access_token"], now=context_of(app).clock()
        )
        assert claims.factor_at is not None
        used = audit_events(database, "auth.second_factor_used")
        assert used[-1].detail["kind"] == "passkey" and used[-1].detail["passkey"] == "Work phone"
        assert _stored(app, user)[0][1] == key.counter

    @pytest.mark.parametrize(
        "wrong",
        [
            "another_origin",
            "another_challenge",
            "replayed_challenge",
            "unknown_passkey",
            "another_users_passkey",
            "spoilt_signature",
            "counter_did_not_rise",
        ],
    )
    def test_a_bad_answer_is_refused_and_nothing_but_the_audit_is_written(
        self, app: FastAPI, client: TestClient, database: Database, wrong: str
    ) -> None:
        user, key = _with_passkey(app, client)
        challenge = _password(client, user)["challenge_token"]
        options = _sign_in_options(client, challenge)
        public_key, ceremony = options["public_key"], options["ceremony_id"]
        if wrong == "another_origin":
            answer = key.get(public_key, origin="http://localhost:8000")
        elif wrong == "another_challenge":
            answer = key.get(public_key, challenge=another_challenge())
        elif wrong == "replayed_challenge":
            answer = key.get(public_key)
            assert _finish(client, challenge, ceremony, answer).status_code == 200
        elif wrong == "unknown_passkey":
            answer = SoftPasskey().get(public_key)
        elif wrong == "another_users_passkey":
            _, theirs = _with_passkey(app, client)
            answer = theirs.get(public_key)
        elif wrong == "spoilt_signature":
            answer = key.get(public_key, spoil_signature=True)
        else:  # a clone of the authenticator, behind the real one's counter
            key.counter = 0
            answer = key.get(public_key)
            key.counter = 5
            _stored_count(app, user, 5)
        before = _stored(app, user)
        tokens = count(database, RefreshToken)
        refused = _finish(client, challenge, ceremony, answer)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "passkey_refused"
        assert "access_token" not in refused.json()
        assert _stored(app, user) == before
        assert count(database, RefreshToken) == tokens
        failed = audit_events(database, "auth.second_factor_failed")
        assert failed[-1].detail["kind"] == "passkey"
        expected = {
            "another_origin": "wrong_origin",
            "another_challenge": "wrong_challenge",
            "replayed_challenge": "unknown_challenge",
            "unknown_passkey": "unknown_passkey",
            "another_users_passkey": "another_users_passkey",
            "spoilt_signature": "bad_signature",
            "counter_did_not_rise": "sign_count_did_not_rise",
        }[wrong]
        assert failed[-1].detail["reason"] == expected

    def test_a_refused_answer_spends_its_challenge(self, app: FastAPI, client: TestClient) -> None:
        user, key = _with_passkey(app, client)
        challenge = _password(client, user)["challenge_token"]
        options = _sign_in_options(client, challenge)
        spoilt = key.get(options["public_key"], spoil_signature=True)
        assert _finish(client, challenge, options["ceremony_id"], spoilt).status_code == 401
        good = key.get(options["public_key"])
        assert _finish(client, challenge, options["ceremony_id"], good).status_code == 401

    def test_a_sign_in_challenge_is_not_a_step_up_challenge(
        self, app: FastAPI, client: TestClient
    ) -> None:
        user, key = _with_passkey(app, client)
        headers = _fresh(app, user, stepped_up=False)
        options = client.post("/api/v1/auth/step-up/passkey/options", headers=headers).json()
        challenge = _password(client, user)["challenge_token"]
        answer = key.get(options["public_key"])
        assert _finish(client, challenge, options["ceremony_id"], answer).status_code == 401

    def test_refusals_count_toward_the_sign_in_throttle(
        self, app: FastAPI, client: TestClient
    ) -> None:
        user, key = _with_passkey(app, client)
        challenge = _password(client, user)["challenge_token"]
        for _ in range(context_of(app).settings.login_free_failures):
            options = _sign_in_options(client, challenge)
            spoilt = key.get(options["public_key"], spoil_signature=True)
            assert _finish(client, challenge, options["ceremony_id"], spoilt).status_code == 401
        options = _sign_in_options(client, challenge)
        held = _finish(client, challenge, options["ceremony_id"], key.get(options["public_key"]))
        assert held.status_code == 429, held.text

    def test_an_account_without_passkeys_gets_no_passkey_challenge(
        self, app: FastAPI, client: TestClient
    ) -> None:
        user = create_staff(app, role="it_admin", second_factor=True)  # an app only
        body = _password(client, user)
        assert body["methods"] == ["totp"]
        refused = client.post(
            "/api/v1/auth/login/passkey/options", json={"challenge_token": body["challenge_token"]}
        )
        assert refused.status_code == 404 and refused.json()["error"] == "no_passkey"


def _stored_count(app: FastAPI, user: StaffUser, value: int) -> None:
    with context_of(app).database.unit_of_work() as session:
        for passkey in repository.list_passkeys(session, user.id):
            passkey.sign_count = value
            session.add(passkey)


class TestStepUpAndRemoval:
    def test_a_passkey_steps_up_and_removing_one_needs_it(
        self, app: FastAPI, client: TestClient, database: Database
    ) -> None:
        user, key = _with_passkey(app, client, role="it_admin")
        stale = _fresh(app, user, stepped_up=False)
        passkey_id = client.get("/api/v1/auth/passkeys", headers=stale).json()[0]["id"]
        refused = client.delete(f"/api/v1/auth/passkeys/{passkey_id}", headers=stale)
        assert refused.status_code == 403 and refused.json()["error"] == "step_up_required"
        options = client.post("/api/v1/auth/step-up/passkey/options", headers=stale).json()
        answer = key.get(options["public_key"])
        stepped = client.post(
            "/api/v1/auth/step-up/passkey",
            headers=stale,
            json={"ceremony_id": options["ceremony_id"], "credential": answer},
        )
        assert stepped.status_code == 200, stepped.text
        fresh = {"Authorization": f"Bearer {stepped.json()['access_token']}"}
        removed = client.delete(f"/api/v1/auth/passkeys/{passkey_id}", headers=fresh)
        assert removed.status_code == 204, removed.text
        assert _stored(app, user) == []
        gone = audit_events(database, "auth.second_factor_removed")
        assert gone[-1].detail == {
            "username": user.username,
            "kind": "passkey",
            "passkey": "Work phone",
            "reason": "own",
        }

    def test_nobody_removes_another_persons_passkey(self, app: FastAPI, client: TestClient) -> None:
        owner, _ = _with_passkey(app, client)
        other, _ = _with_passkey(app, client)
        theirs = client.get("/api/v1/auth/passkeys", headers=bearer(app, owner)).json()[0]["id"]
        refused = client.delete(f"/api/v1/auth/passkeys/{theirs}", headers=_fresh(app, other))
        assert refused.status_code == 404
        assert len(_stored(app, owner)) == 1

    def test_it_removes_the_passkeys_of_someone_who_lost_them(
        self, app: FastAPI, client: TestClient, database: Database
    ) -> None:
        lost, _ = _with_passkey(app, client)
        admin = create_staff(app, role="it_admin", second_factor=True)
        stale = client.delete(
            f"/api/v1/users/{lost.username}/mfa", headers=bearer(app, admin, stepped_up=False)
        )
        assert stale.status_code == 403
        removed = client.delete(f"/api/v1/users/{lost.username}/mfa", headers=bearer(app, admin))
        assert removed.status_code == 204, removed.text
        assert _stored(app, lost) == []
        event = audit_events(database, "auth.second_factor_removed")[-1]
        assert event.detail["reason"] == "by_it" and event.detail["passkeys"] == "Work phone"
