"""Passkeys in the console, through its own JSON exchanges: signing in with one on the code
page, adding one on the passkeys page, and removing one only after a fresh second factor."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.auth import repository
from mdm_server.auth.models import StaffUser
from mdm_server.console.models import ConsoleSession
from tests.conftest import FakeClock
from tests.console.conftest import CHALLENGE, Browser
from tests.factories.passkeys import SoftPasskey
from tests.factories.staff import PASSWORD, context_of, create_staff
from tests.support import count


def _browser(app: FastAPI) -> Browser:
    return Browser(TestClient(app, follow_redirects=False))


def _json(browser: Browser, url: str, body: dict[str, Any]) -> Any:
    return browser.client.post(url, json=body, headers={"X-CSRF-Token": browser.csrf})


def _add(browser: Browser, key: SoftPasskey, name: str) -> Any:
    options = _json(browser, "/console/passkeys/options", {})
    assert options.status_code == 200, options.text
    body = options.json()
    answer = key.create(body["public_key"])
    return _json(
        browser,
        "/console/passkeys",
        {"ceremony_id": body["ceremony_id"], "name": name, "credential": answer},
    )


def _names(app: FastAPI, user: StaffUser) -> list[str]:
    with context_of(app).database.unit_of_work(write=False) as session:
        return [p.name for p in repository.list_passkeys(session, user.id)]


def _signed_up(app: FastAPI) -> tuple[StaffUser, SoftPasskey]:
    """A supervisor who signed in with a password alone and added a passkey."""
    user = create_staff(app, role="supervisor", second_factor=False)
    browser = _browser(app)
    assert browser.sign_in(user.username).status_code == 303
    browser.get("/console/passkeys")
    key = SoftPasskey()
    added = _add(browser, key, "Work phone")
    assert added.status_code == 200 and added.json() == {"redirect": "/console/passkeys?added"}
    return user, key


class TestSignInWithAPasskey:
    def test_the_code_page_offers_the_passkey_and_its_answer_opens_a_session(
        self, app: FastAPI, database: Any
    ) -> None:
        user, key = _signed_up(app)
        browser = _browser(app)
        browser.get("/console/login")
        page = browser.post("/console/login", {"username": user.username, "password": PASSWORD})
        assert page.status_code == 200 and "Use a passkey" in page.text
        assert 'action="/console/login/code"' not in page.text  # no authenticator app
        assert '<script src="/console/static/passkeys.js" defer></script>' in page.text
        challenge = CHALLENGE.search(page.text).group(1)  # type: ignore[union-attr]
        sessions = count(database, ConsoleSession)
        options = _json(browser, "/console/login/passkey/options", {"challenge_token": challenge})
        assert options.status_code == 200, options.text
        body = options.json()
        spoilt = key.get(body["public_key"], spoil_signature=True)
        refused = _json(
            browser,
            "/console/login/passkey",
            {
                "challenge_token": challenge,
                "ceremony_id": body["ceremony_id"],
                "credential": spoilt,
            },
        )
        assert refused.status_code == 401 and refused.json()["error"] == "passkey_refused"
        assert count(database, ConsoleSession) == sessions
        body = _json(
            browser, "/console/login/passkey/options", {"challenge_token": challenge}
        ).json()
        done = _json(
            browser,
            "/console/login/passkey",
            {
                "challenge_token": challenge,
                "ceremony_id": body["ceremony_id"],
                "credential": key.get(body["public_key"]),
            },
        )
        assert done.status_code == 200 and done.json() == {"redirect": "/console/demand"}
        assert "tabard_session=" in done.headers["set-cookie"]
        assert browser.get("/console/passkeys").status_code == 200

    def test_without_the_sign_in_forms_csrf_token_nothing_is_asked(self, app: FastAPI) -> None:
        user, _ = _signed_up(app)
        browser = _browser(app)
        browser.get("/console/login")
        page = browser.post("/console/login", {"username": user.username, "password": PASSWORD})
        challenge = CHALLENGE.search(page.text).group(1)  # type: ignore[union-attr]
        forged = browser.client.post(
            "/console/login/passkey/options",
            json={"challenge_token": challenge},
            headers={"X-CSRF-Token": "forged"},
        )
        assert forged.status_code == 403


class TestThePasskeysPage:
    def test_adding_a_second_and_removing_one_needs_a_recent_factor(
        self, app: FastAPI, clock: FakeClock
    ) -> None:
        user, key = _signed_up(app)
        browser = _browser(app)
        browser.get("/console/login")
        page = browser.post("/console/login", {"username": user.username, "password": PASSWORD})
        challenge = CHALLENGE.search(page.text).group(1)  # type: ignore[union-attr]
        body = _json(
            browser, "/console/login/passkey/options", {"challenge_token": challenge}
        ).json()
        signed_in = _json(
            browser,
            "/console/login/passkey",
            {
                "challenge_token": challenge,
                "ceremony_id": body["ceremony_id"],
                "credential": key.get(body["public_key"]),
            },
        )
        assert signed_in.status_code == 200, signed_in.text
        listing = browser.get("/console/passkeys")
        assert "Work phone" in listing.text and "Remove" in listing.text
        assert _add(browser, SoftPasskey(), "YubiKey").status_code == 200
        assert _names(app, user) == ["Work phone", "YubiKey"]
        clock.advance(seconds=context_of(app).settings.step_up_max_age_s + 1)
        stale = browser.get("/console/passkeys")
        assert "Confirm with a passkey" in stale.text and "Remove YubiKey" not in stale.text
        late = _json(browser, "/console/passkeys/options", {})
        assert late.status_code == 403 and late.json()["error"] == "step_up_required"
        passkey_id = _passkey_id(app, user, "YubiKey")
        refused = browser.post(f"/console/passkeys/{passkey_id}/remove")
        assert refused.status_code == 303  # to "Confirm it is you", and back
        assert refused.headers["location"].startswith("/console/step-up")
        assert _names(app, user) == ["Work phone", "YubiKey"]
        body = _json(browser, "/console/passkeys/step-up/options", {}).json()
        stepped = _json(
            browser,
            "/console/passkeys/step-up",
            {"ceremony_id": body["ceremony_id"], "credential": key.get(body["public_key"])},
        )
        assert stepped.status_code == 200, stepped.text
        removed = browser.post(f"/console/passkeys/{passkey_id}/remove")
        assert removed.status_code == 303
        assert _names(app, user) == ["Work phone"]

    def test_nobody_removes_someone_elses_passkey_from_the_console(self, app: FastAPI) -> None:
        owner, _ = _signed_up(app)
        other = create_staff(app, role="supervisor", second_factor=False)
        browser = _browser(app)
        browser.sign_in(other.username)
        browser.get("/console/passkeys")
        refused = browser.post(f"/console/passkeys/{_passkey_id(app, owner, 'Work phone')}/remove")
        assert refused.status_code == 404
        assert _names(app, owner) == ["Work phone"]


def _passkey_id(app: FastAPI, user: StaffUser, name: str) -> str:
    with context_of(app).database.unit_of_work(write=False) as session:
        (found,) = [p for p in repository.list_passkeys(session, user.id) if p.name == name]
        return str(found.id)


class TestMandatorySecondFactor:
    def test_an_auditor_without_a_factor_is_sent_to_add_a_passkey_and_then_may_work(
        self, tmp_path: Any, database: Any, clock: FakeClock
    ) -> None:
        from mdm_server.main import create_app
        from tests.conftest import make_settings

        settings = make_settings(tmp_path / "data", second_factor_required=True)
        app = create_app(settings, database=database, clock=clock)
        user = create_staff(app, role="auditor", second_factor=False)
        browser = _browser(app)
        assert browser.sign_in(user.username).status_code == 303
        sent = browser.get("/console/audit")
        assert sent.status_code == 303 and sent.headers["location"] == "/console/second-factor"
        assert 'href="/console/passkeys"' in browser.get("/console/second-factor").text
        browser.get("/console/passkeys")
        assert _add(browser, SoftPasskey(), "Work phone").status_code == 200
        assert browser.get("/console/audit").status_code == 200


class TestServedAtAnAddress:
    def test_the_page_says_passkeys_need_a_host_name_and_none_is_begun(
        self, tmp_path: Any, database: Any, clock: FakeClock
    ) -> None:
        from mdm_server.main import create_app
        from tests.conftest import make_settings

        settings = make_settings(tmp_path / "data", public_url="http://10.0.0.5:8000")
        app = create_app(settings, database=database, clock=clock)
        user = create_staff(app, role="officer")
        browser = _browser(app)
        browser.sign_in(user.username)
        page = browser.get("/console/passkeys")
        assert "Passkeys need the console at a host name" in page.text
        assert 'data-passkey="register"' not in page.text
        refused = _json(browser, "/console/passkeys/options", {})
        assert refused.status_code == 409 and refused.json()["error"] == "passkeys_unavailable"
