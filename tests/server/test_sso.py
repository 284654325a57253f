"""Signing in through the force's OpenID provider, against a real one (oidc-provider, run by
tests/oidc): the console's code flow with PKCE driven through the provider's own pages by
plain HTTP, the CLI's device grant through the API, and the rules that decide who gets in as
what. The browser's view of the same is tests/e2e/test_sso_browser.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from mdm_server.audit.service import Actor
from mdm_server.auth import repository, sso
from mdm_server.auth.models import StaffUser
from mdm_server.auth.oidc import IdTokenError, OidcClient
from mdm_server.config import Settings
from mdm_server.console.access import SESSION_COOKIE
from mdm_server.console.pages.sso import FLOW_COOKIE
from mdm_server.db import Database
from tests.conftest import FakeClock, make_settings
from tests.oidc.provider import CLIENT_ID, OpenIdProvider, ProviderBrowser, running_provider
from tests.support import audit_events

CALLBACK = "http://testserver/console/sso/callback"


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[OpenIdProvider]:
    yield from running_provider(tmp_path, [CALLBACK])


@pytest.fixture
def settings(tmp_path: Path, provider: OpenIdProvider) -> Settings:
    return make_settings(tmp_path / "data", **provider.settings())


def account(database: Database, username: str) -> StaffUser | None:
    with database.unit_of_work(write=False) as session:
        return session.exec(select(StaffUser).where(StaffUser.username == username)).first()


def accounts(database: Database) -> list[str]:
    with database.unit_of_work(write=False) as session:
        return [user.username for user in session.exec(select(StaffUser)).all()]


def signed_out(client: TestClient, session_cookie: str | None) -> bool:
    """Whether the console sends this session cookie's holder to the sign-in page."""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, session_cookie or "", path="/console")
    answer = client.get("/console", follow_redirects=False)
    assert answer.status_code == 303
    return str(answer.headers["location"]).startswith("/console/login")


def to_provider(client: TestClient) -> str:
    started = client.get("/console/sso/start", follow_redirects=False)
    assert started.status_code == 303, started.text
    assert FLOW_COOKIE in started.cookies
    return started.headers["location"]


def come_back(client: TestClient, provider: OpenIdProvider, login: str):  # type: ignore[no-untyped-def]
    """Sign in at the provider as `login` and follow its redirect back to Tabard."""
    back = ProviderBrowser(provider).authorize(to_provider(client), login=login, until=CALLBACK)
    return client.get(back.removeprefix("http://testserver"), follow_redirects=False), back


class TestConsoleSignIn:
    def test_the_sign_in_page_offers_the_force_sign_in(self, client: TestClient) -> None:
        page = client.get("/console/login")
        assert "Sign in with Example Police sign-in" in page.text
        assert 'href="/console/sso/start"' in page.text

    def test_the_request_carries_pkce_state_and_nonce(
        self, client: TestClient, provider: OpenIdProvider
    ) -> None:
        sent = parse_qs(urlsplit(to_provider(client)).query)
        assert sent["code_challenge_method"] == ["S256"]
        assert len(sent["code_challenge"][0]) == 43
        assert len(sent["state"][0]) >= 32 and len(sent["nonce"][0]) >= 32
        assert sent["redirect_uri"] == [CALLBACK]

    def test_first_sign_in_makes_an_account_and_opens_a_console_session(
        self, client: TestClient, provider: OpenIdProvider, database: Database
    ) -> None:
        answer, _ = come_back(client, provider, "jo.it")
        assert answer.status_code == 200, answer.text
        assert 'http-equiv="refresh"' in answer.text
        assert SESSION_COOKIE in answer.cookies
        home = client.get("/console", follow_redirects=False)
        assert home.status_code == 303
        assert client.get(home.headers["location"]).status_code == 200
        user = account(database, "jo.it")
        assert user is not None
        assert (user.role, user.display_name, user.password_hash) == ("it_admin", "Jo Bloggs", None)
        assert (user.oidc_issuer, user.oidc_subject) == (provider.issuer, "jo.it")
        (created,) = audit_events(database, "staff_user.created")
        assert created.detail["method"] == "sso"
        (login,) = audit_events(database, "auth.login")
        assert login.detail == {"via": "console", "method": "sso"}

    def test_the_second_sign_in_finds_the_same_account(
        self, client: TestClient, provider: OpenIdProvider, database: Database
    ) -> None:
        come_back(client, provider, "sam.audit")
        client.cookies.clear()
        answer, _ = come_back(client, provider, "sam.audit")
        assert answer.status_code == 200
        assert accounts(database).count("sam.audit") == 1
        assert len(audit_events(database, "auth.login")) == 2

    def test_a_group_tabard_does_not_know_gets_a_clear_page_and_no_account(
        self, client: TestClient, provider: OpenIdProvider, database: Database
    ) -> None:
        answer, _ = come_back(client, provider, "kim.payroll")
        assert answer.status_code == 403
        assert "No access to Tabard" in answer.text
        assert "none of your groups" in answer.text
        assert SESSION_COOKIE not in answer.cookies
        assert accounts(database) == []
        (refused,) = audit_events(database, "auth.login_refused")
        assert refused.detail["reason"] == "no_role"

    def test_groups_giving_two_roles_are_refused(
        self, client: TestClient, provider: OpenIdProvider, database: Database
    ) -> None:
        answer, _ = come_back(client, provider, "two.hats")
        assert answer.status_code == 403
        assert "one role" in answer.text
        assert accounts(database) == []

    def test_a_replayed_code_is_refused(self, client: TestClient, provider: OpenIdProvider) -> None:
        flow = to_provider(client)
        cookie = client.cookies.get(FLOW_COOKIE)
        back = ProviderBrowser(provider).authorize(flow, login="jo.it", until=CALLBACK)
        path = back.removeprefix("http://testserver")
        assert client.get(path, follow_redirects=False).status_code == 200
        client.cookies.clear()
        client.cookies.set(FLOW_COOKIE, cookie or "", path="/console/sso")
        again = client.get(path, follow_redirects=False)
        assert again.status_code == 401
        assert "did not accept the sign-in" in again.text
        assert SESSION_COOKIE not in again.cookies

    def test_an_altered_state_is_refused(
        self, client: TestClient, provider: OpenIdProvider
    ) -> None:
        back = ProviderBrowser(provider).authorize(
            to_provider(client), login="jo.it", until=CALLBACK
        )
        altered = back.replace("state=", "state=x")
        answer = client.get(altered.removeprefix("http://testserver"), follow_redirects=False)
        assert answer.status_code == 400
        assert "did not come back as it was sent" in answer.text

    def test_a_callback_without_the_flow_cookie_is_refused(
        self, client: TestClient, provider: OpenIdProvider
    ) -> None:
        back = ProviderBrowser(provider).authorize(
            to_provider(client), login="jo.it", until=CALLBACK
        )
        client.cookies.clear()
        answer = client.get(back.removeprefix("http://testserver"), follow_redirects=False)
        assert answer.status_code == 400
        assert "took too long or was started elsewhere" in answer.text

    def test_a_sso_account_has_no_password_to_sign_in_with(
        self, client: TestClient, provider: OpenIdProvider
    ) -> None:
        come_back(client, provider, "jo.it")
        for password in ("", "any password", "x" * 20):
            answer = client.post(
                "/api/v1/auth/login", json={"username": "jo.it", "password": password or "x"}
            )
            assert answer.status_code == 401


class TestProviderIsTheAuthority:
    def test_a_new_group_changes_the_role_and_ends_old_sessions(
        self, client: TestClient, provider: OpenIdProvider, database: Database, clock: FakeClock
    ) -> None:
        come_back(client, provider, "jo.it")
        clock.advance(seconds=5)
        old_session = client.cookies.get(SESSION_COOKIE)
        provider.put_person("jo.it", {**provider.people["jo.it"], "groups": ["tabard-pst"]})
        client.cookies.clear()
        come_back(client, provider, "jo.it")
        user = account(database, "jo.it")
        assert user is not None and user.role == "auditor"
        (changed,) = audit_events(database, "staff_user.role_changed")
        assert changed.detail["to"] == "auditor"
        assert signed_out(client, old_session)

    def test_a_person_removed_from_tabards_groups_loses_access(
        self, client: TestClient, provider: OpenIdProvider, database: Database, clock: FakeClock
    ) -> None:
        come_back(client, provider, "ann.super")
        assert not signed_out(client, client.cookies.get(SESSION_COOKIE))
        clock.advance(seconds=5)
        signed_in = client.cookies.get(SESSION_COOKIE)
        provider.put_person("ann.super", {**provider.people["ann.super"], "groups": ["staff"]})
        client.cookies.clear()
        answer, _ = come_back(client, provider, "ann.super")
        assert answer.status_code == 403
        user = account(database, "ann.super")
        assert user is not None and user.disabled_at is not None
        (disabled,) = audit_events(database, "staff_user.disabled")
        assert disabled.detail["reason"] == "no_role_at_provider"
        assert signed_out(client, signed_in)  # the session opened before is over too

    def test_a_person_deleted_at_the_provider_cannot_sign_in(
        self, client: TestClient, provider: OpenIdProvider, database: Database
    ) -> None:
        provider.remove_person("jo.it")
        browser = ProviderBrowser(provider)
        with pytest.raises(AssertionError):
            browser.authorize(to_provider(client), login="jo.it", until=CALLBACK)
        assert accounts(database) == []


class TestDeviceSignIn:
    def test_the_cli_signs_in_by_the_device_grant(
        self, client: TestClient, provider: OpenIdProvider, database: Database
    ) -> None:
        started = client.post("/api/v1/auth/sso/device")
        assert started.status_code == 201, started.text
        body = started.json()
        assert body["verification_uri"].startswith(provider.issuer)
        poll = {"poll_token": body["poll_token"]}
        pending = client.post("/api/v1/auth/sso/device/token", json=poll)
        assert pending.status_code == 202
        assert pending.json()["pending"] is True
        ProviderBrowser(provider).approve_device(body["user_code"], login="sam.audit")
        tokens = client.post("/api/v1/auth/sso/device/token", json=poll)
        assert tokens.status_code == 200, tokens.text
        pair = tokens.json()
        assert pair["user"]["role"] == "auditor"
        assert pair["password_change_required"] is False
        me = client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
        )
        assert me.json()["username"] == "sam.audit"
        (login,) = audit_events(database, "auth.login")
        assert login.detail == {"via": "cli", "method": "sso"}
        # The device code is spent: its poll token gets nothing more.
        assert client.post("/api/v1/auth/sso/device/token", json=poll).status_code == 401

    def test_an_altered_poll_token_is_refused(self, client: TestClient) -> None:
        body = client.post("/api/v1/auth/sso/device").json()
        altered = body["poll_token"][:-4] + (
            "AAAA" if body["poll_token"][-4:] != "AAAA" else "BBBB"
        )
        answer = client.post("/api/v1/auth/sso/device/token", json={"poll_token": altered})
        assert answer.status_code == 401
        assert "run tabard login --sso again" in answer.json()["detail"]

    def test_the_server_says_single_sign_on_is_on(self, client: TestClient) -> None:
        assert client.get("/api/v1/auth/sso").json()["enabled"] is True


class TestWithoutSingleSignOn:
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return make_settings(tmp_path / "data")

    def test_the_sign_in_page_has_no_sso_button_and_the_routes_say_so(
        self, client: TestClient
    ) -> None:
        assert "/console/sso/start" not in client.get("/console/login").text
        started = client.post("/api/v1/auth/sso/device")
        assert started.status_code == 404
        assert started.json()["error"] == "sso_not_configured"
        assert client.get("/api/v1/auth/sso").json() == {
            "enabled": False,
            "provider_name": None,
            "issuer": None,
            "device_sign_in": False,
        }


class TestReplayedIdToken:
    def test_an_id_token_is_accepted_once(
        self, provider: OpenIdProvider, settings: Settings, database: Database, clock: FakeClock
    ) -> None:
        stamp = int(clock().timestamp())
        token = provider.sign(
            {
                "iss": provider.issuer,
                "aud": CLIENT_ID,
                "sub": "jo.it",
                "iat": stamp,
                "exp": stamp + 300,
                "preferred_username": "jo.it",
                "groups": ["tabard-it"],
            }
        )
        oidc = OidcClient(settings)
        claims = oidc.validate_id_token(token, nonce=None, now=clock())
        actor = Actor(type="anonymous", source_ip="127.0.0.1")

        def sign_in() -> StaffUser:
            with database.unit_of_work() as session:
                return sso.sign_in(
                    session, id_token=claims, actor=actor, now=clock(), settings=settings, via="cli"
                )

        assert sign_in().role == "it_admin"
        with pytest.raises(IdTokenError, match="used already"):
            sign_in()
        (refused,) = audit_events(database, "auth.login_refused")
        assert refused.detail["reason"] == "replayed_id_token"
        oidc.close()

    def test_the_nightly_clean_up_forgets_id_tokens_past_their_expiry(
        self, provider: OpenIdProvider, settings: Settings, app: FastAPI, clock: FakeClock
    ) -> None:
        from mdm_server.scheduler import job_named, run_job

        stamp = int(clock().timestamp())
        token = provider.sign(
            {"iss": provider.issuer, "aud": CLIENT_ID, "sub": "x", "iat": stamp, "exp": stamp + 60}
        )
        context = app.state.context
        assert context.oidc is not None
        claims = context.oidc.validate_id_token(token, nonce=None, now=clock())
        with context.database.unit_of_work() as session:
            assert repository.remember_id_token(
                session, token_digest=claims.token_digest, expires_at=claims.expires_at
            )
        assert run_job(context, job_named(context, "cleanup"))["id_tokens_purged"] == 0
        clock.advance(days=1)  # past the token's expiry, and the job's next run is due
        assert run_job(context, job_named(context, "cleanup"))["id_tokens_purged"] == 1


class TestScheduledCheck:
    """With offline_access, Tabard keeps each person's refresh token from the provider and
    asks with it on a schedule whether the provider still knows them."""

    @pytest.fixture
    def settings(self, tmp_path: Path, provider: OpenIdProvider) -> Settings:
        values = {**provider.settings(), "oidc_scopes": "openid profile groups offline_access"}
        return make_settings(tmp_path / "data", **values)

    def check(self, app: FastAPI) -> dict[str, int] | None:
        from mdm_server.scheduler import job_named, run_job

        context = app.state.context
        return run_job(context, job_named(context, "check_sso_accounts"))

    def test_a_person_removed_at_the_provider_is_disabled_and_signed_out(
        self,
        client: TestClient,
        app: FastAPI,
        provider: OpenIdProvider,
        database: Database,
        clock: FakeClock,
    ) -> None:
        come_back(client, provider, "jo.it")
        session_cookie = client.cookies.get(SESSION_COOKIE)
        come_back(client, provider, "sam.audit")
        clock.advance(seconds=5)
        user = account(database, "jo.it")
        assert user is not None and user.oidc_refresh_wrapped is not None
        provider.remove_person("jo.it")
        assert self.check(app) == {"checked": 2, "disabled": 1}
        gone, kept = account(database, "jo.it"), account(database, "sam.audit")
        assert gone is not None and gone.disabled_at is not None
        assert kept is not None and kept.disabled_at is None
        (disabled,) = audit_events(database, "staff_user.disabled")
        assert disabled.detail["reason"] == "gone_at_provider"
        assert signed_out(client, session_cookie)

    def test_the_request_asks_for_consent_to_offline_access(self, client: TestClient) -> None:
        sent = parse_qs(urlsplit(to_provider(client)).query)
        assert sent["prompt"] == ["consent"]
        assert "offline_access" in sent["scope"][0].split()
