"""Step-up for single sign-on accounts, against a real provider (oidc-provider, run by
tests/oidc): a sign-in at the provider counts as the account's second factor at its
`auth_time`, so an action that cannot be undone needs one within the step-up window; the
console asks the provider to sign the person in again (`max_age=0`), the CLI signs in again
by the device grant, and with TABARD_OIDC_STEP_UP_ACR only a sign-in at that `acr` counts."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import select

from mdm_server.auth.models import StaffUser
from mdm_server.auth.tokens import FEDERATED
from mdm_server.config import Settings
from mdm_server.console.access import SESSION_COOKIE
from mdm_server.console.models import ConsoleSession
from mdm_server.db import Database
from tests.conftest import FakeClock, make_settings
from tests.factories.staff import context_of
from tests.oidc.provider import OpenIdProvider, ProviderBrowser, running_provider
from tests.support import audit_events, error_of

CALLBACK = "http://testserver/console/sso/callback"
DAY = {"from": "2026-11-21T00:00:00Z", "to": "2026-11-22T00:00:00Z"}
BUNDLE = "/console/audit/bundle"
BUNDLE_FORM = {"start": "2026-11-21T00:00", "end": "2026-11-22T00:00"}
STRONG = "urn:example:police:mfa"


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[OpenIdProvider]:
    yield from running_provider(tmp_path, [CALLBACK])


@pytest.fixture
def settings(tmp_path: Path, provider: OpenIdProvider) -> Settings:
    return make_settings(tmp_path / "data", **provider.settings())


def device_sign_in(client: TestClient, provider: OpenIdProvider, login: str) -> dict[str, Any]:
    """`tabard login --sso` through the API, the person signing in at the provider's pages:
    the token pair."""
    started = client.post("/api/v1/auth/sso/device")
    assert started.status_code == 201, started.text
    body = started.json()
    ProviderBrowser(provider).approve_device(body["user_code"], login=login)
    pair = client.post("/api/v1/auth/sso/device/token", json={"poll_token": body["poll_token"]})
    assert pair.status_code == 200, pair.text
    return dict(pair.json())


def stale_token(app: FastAPI, database: Database, username: str) -> dict[str, str]:
    """An access token of the account from a sign-in at the provider longer ago than the
    step-up window (a real one could only be had by waiting that long)."""
    context = context_of(app)
    now = context.clock()
    with database.unit_of_work(write=False) as session:
        user = session.exec(select(StaffUser).where(StaffUser.username == username)).one()
    issued = context.staff_tokens.issue(
        user_id=user.id,
        username=user.username,
        role=user.role,
        password_change_required=False,
        factor_at=now - timedelta(seconds=context.settings.step_up_max_age_s + 60),
        factor_method=FEDERATED,
        now=now,
    )
    return {"Authorization": f"Bearer {issued.token}"}


def export(client: TestClient, headers: dict[str, str]) -> Any:
    return client.get("/api/v1/audit/export", params=DAY, headers=headers)


class TestOverTheApi:
    def test_a_device_sign_in_counts_as_the_factor_at_its_auth_time(
        self, app: FastAPI, client: TestClient, provider: OpenIdProvider, clock: FakeClock
    ) -> None:
        pair = device_sign_in(client, provider, "sam.audit")
        claims = context_of(app).staff_tokens.verify(pair["access_token"], now=clock.now)
        assert claims.factor_at is not None
        assert abs(claims.factor_at - clock.now) < timedelta(seconds=60)
        unverified = jwt.decode(pair["access_token"], options={"verify_signature": False})
        assert unverified["amr"] == ["fed"]

    def test_a_stale_sso_token_is_refused_and_a_fresh_device_sign_in_allows_it(
        self,
        app: FastAPI,
        client: TestClient,
        provider: OpenIdProvider,
        database: Database,
    ) -> None:
        signed_in(client, ProviderBrowser(provider), "sam.audit")  # the account, made then
        refused = export(client, stale_token(app, database, "sam.audit"))
        assert (refused.status_code, error_of(refused)) == (403, "step_up_required")
        assert "tabard login --sso" in refused.json()["detail"]
        assert "tabard mfa" not in refused.json()["detail"]
        challenge = refused.headers["www-authenticate"]
        assert 'error="insufficient_user_authentication"' in challenge
        assert 'max_age="300"' in challenge

        fresh = device_sign_in(client, provider, "sam.audit")
        allowed = export(client, {"Authorization": f"Bearer {fresh['access_token']}"})
        assert allowed.status_code == 200, allowed.text

    def test_a_fresh_token_lasts_the_window_and_no_longer(
        self, app: FastAPI, client: TestClient, provider: OpenIdProvider, clock: FakeClock
    ) -> None:
        pair = device_sign_in(client, provider, "sam.audit")
        headers = {"Authorization": f"Bearer {pair['access_token']}"}
        clock.advance(seconds=context_of(app).settings.step_up_max_age_s + 60)
        answer = export(client, headers)
        assert (answer.status_code, error_of(answer)) == (403, "step_up_required")


class TestWithAnAcrRequired:
    @pytest.fixture
    def settings(self, tmp_path: Path, provider: OpenIdProvider) -> Settings:
        return make_settings(tmp_path / "data", **provider.settings(), oidc_step_up_acr=STRONG)

    def test_a_device_sign_in_at_another_acr_is_no_step_up(
        self, client: TestClient, provider: OpenIdProvider
    ) -> None:
        pair = device_sign_in(client, provider, "sam.audit")
        answer = export(client, {"Authorization": f"Bearer {pair['access_token']}"})
        assert (answer.status_code, error_of(answer)) == (403, "step_up_required")
        assert f'acr_values="{STRONG}"' in answer.headers["www-authenticate"]

    def test_the_console_step_up_asks_for_the_acr_and_refuses_another(
        self, client: TestClient, provider: OpenIdProvider, database: Database
    ) -> None:
        browser = ProviderBrowser(provider)
        signed_in(client, browser, "sam.audit")
        sent = parse_qs(urlsplit(to_step_up_sign_in(client)).query)
        assert sent["acr_values"] == [STRONG]
        back = browser.authorize(to_step_up_sign_in(client), login="sam.audit", until=CALLBACK)
        refused = client.get(back.removeprefix("http://testserver"), follow_redirects=False)
        assert refused.status_code == 401
        assert "as strongly as Tabard asks" in html.unescape(refused.text)
        assert SESSION_COOKIE not in refused.cookies


def signed_in(client: TestClient, browser: ProviderBrowser, login: str) -> None:
    """Sign in to the console at the provider: the client holds the session's cookie."""
    started = client.get("/console/sso/start", follow_redirects=False)
    back = browser.authorize(started.headers["location"], login=login, until=CALLBACK)
    answer = client.get(back.removeprefix("http://testserver"), follow_redirects=False)
    assert answer.status_code == 200, answer.text


def age_sessions(database: Database, *, by: timedelta, now: datetime) -> None:
    """As if the console sessions' sign-in at the provider was `by` ago (a real one could
    only be had by waiting that long)."""
    with database.unit_of_work() as session:
        session.execute(update(ConsoleSession).values(factor_at=now - by))


def to_step_up_sign_in(client: TestClient) -> str:
    """Follow "Sign in again" from "Confirm it is you": where Tabard sends the browser."""
    page = client.get(f"/console/step-up?next={BUNDLE}")
    (again,) = re.findall(r'href="(/console/sso/start\?[^"]+)"', page.text)
    started = client.get(html.unescape(again), follow_redirects=False)
    assert started.status_code == 303, started.text
    return str(started.headers["location"])


def post_bundle(client: TestClient) -> Any:
    form = client.get(BUNDLE)
    (csrf,) = re.findall(r'name="csrf_token" value="([^"]+)"', form.text)[:1]
    return client.post(
        BUNDLE,
        data={"csrf_token": csrf, **BUNDLE_FORM},
        headers={"referer": f"http://testserver{BUNDLE}"},
        follow_redirects=False,
    )


class TestInTheConsole:
    def test_a_stale_session_signs_in_again_at_the_provider_and_goes_ahead(
        self,
        app: FastAPI,
        client: TestClient,
        provider: OpenIdProvider,
        database: Database,
        clock: FakeClock,
    ) -> None:
        browser = ProviderBrowser(provider)
        signed_in(client, browser, "sam.audit")
        assert browser.logins == 1
        window = context_of(app).settings.step_up_max_age_s
        age_sessions(database, by=timedelta(seconds=window + 60), now=clock.now)

        asked = post_bundle(client)
        assert asked.status_code == 303, asked.text
        target = urlsplit(asked.headers["location"])
        assert target.path == "/console/step-up"
        assert parse_qs(target.query)["next"] == [BUNDLE]
        page = client.get(asked.headers["location"])
        assert "Sign in again with Example Police sign-in" in page.text
        assert 'name="code"' not in page.text  # no Tabard code to type

        authorization = to_step_up_sign_in(client)
        sent = parse_qs(urlsplit(authorization).query)
        assert sent["max_age"] == ["0"]
        assert "login" in sent["prompt"][0].split()
        back = browser.authorize(authorization, login="sam.audit", until=CALLBACK)
        # The provider still had the person signed in, and asked them again all the same.
        assert browser.logins == 2
        returned = client.get(back.removeprefix("http://testserver"), follow_redirects=False)
        assert returned.status_code == 200, returned.text
        assert f'url={BUNDLE}"' in returned.text or f"url={BUNDLE}'" in returned.text
        assert SESSION_COOKIE in returned.cookies

        bundle = post_bundle(client)
        assert bundle.status_code == 200, bundle.text
        assert bundle.headers["content-type"] == "application/zip"
        assert len(audit_events(database, "auth.login")) == 2

    def test_an_ordinary_sign_in_does_not_force_the_provider_to_ask_again(
        self, client: TestClient
    ) -> None:
        started = client.get("/console/sso/start", follow_redirects=False)
        sent = parse_qs(urlsplit(started.headers["location"]).query)
        assert "max_age" not in sent and "prompt" not in sent
