"""Signing in to the console: sessions, cookies, CSRF, lockout, idle and absolute limits."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.console.models import ConsoleSession
from tests.conftest import FakeClock
from tests.console.conftest import Browser
from tests.factories.staff import PASSWORD, create_staff
from tests.support import audit_events, count


def fresh(app: FastAPI) -> Browser:
    return Browser(TestClient(app, follow_redirects=False))


class TestSignIn:
    def test_signs_in_sets_a_strict_httponly_cookie_and_goes_to_the_role_home(
        self, app: FastAPI, database
    ) -> None:
        user = create_staff(app, role="auditor", second_factor=True)
        browser = fresh(app)
        response = browser.sign_in(user.username)
        assert response.status_code == 303
        assert response.headers["location"] == "/console/audit"
        cookie = next(
            value
            for name, value in response.headers.multi_items()
            if name == "set-cookie" and value.startswith("tabard_session=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/console" in cookie
        assert "Secure" not in cookie  # plain http in tests; see the https test below
        assert count(database, ConsoleSession) == 1
        (login,) = audit_events(database, "auth.login")
        assert login.detail == {
            "username": user.username,
            "second_factor": "used",
            "via": "console",
        }

    def test_the_cookie_is_secure_behind_https(self, tmp_path, database, clock) -> None:
        from mdm_server.main import create_app
        from tests.conftest import make_settings

        app = create_app(
            make_settings(tmp_path, public_url="https://mdm.example.police.uk"),
            database=database,
            clock=clock,
        )
        user = create_staff(app, role="officer")
        browser = Browser(TestClient(app, base_url="https://testserver", follow_redirects=False))
        response = browser.sign_in(user.username)
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]

    def test_a_wrong_password_is_refused_counted_and_audited(self, app: FastAPI, database) -> None:
        user = create_staff(app, role="it_admin")
        response = fresh(app).sign_in(user.username, "not the password at all")
        assert response.status_code == 401
        assert "invalid username or password" in response.text
        assert "tabard_session=" not in response.headers.get("set-cookie", "")
        (failed,) = audit_events(database, "auth.login_failed")
        assert failed.detail["reason"] == "bad_password"
        assert count(database, ConsoleSession) == 0

    def test_repeated_failures_make_the_address_wait_as_the_api_does(self, app: FastAPI) -> None:
        user = create_staff(app, role="it_admin")
        browser = fresh(app)
        for _ in range(5):
            browser.sign_in(user.username, "wrong password, again")
        response = browser.sign_in(user.username, PASSWORD)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "1"
        assert "too many failed sign-ins to this account from your address" in response.text
        assert "try again after" in response.text

    def test_a_sign_in_without_the_forms_csrf_token_is_refused(self, app: FastAPI) -> None:
        user = create_staff(app, role="it_admin")
        client = TestClient(app, follow_redirects=False)
        response = client.post(
            "/console/login", data={"username": user.username, "password": PASSWORD}
        )
        assert response.status_code == 403
        assert "tabard_session=" not in response.headers.get("set-cookie", "")

    def test_next_returns_to_the_page_asked_for_but_never_off_the_console(
        self, app: FastAPI
    ) -> None:
        user = create_staff(app, role="it_admin")
        for target, expected in (
            ("/console/devices?state=active", "/console/devices?state=active"),
            ("https://evil.example/", "/console/fleet"),
            ("//evil.example/console", "/console/fleet"),
            ("/consolex", "/console/fleet"),
        ):
            browser = fresh(app)
            browser.get("/console/login")
            response = browser.post(
                "/console/login",
                {"username": user.username, "password": PASSWORD, "next": target},
                follow_redirects=False,
            )
            response = browser.pass_code(response, user.username)
            assert response.headers["location"] == expected, target

    def test_a_page_without_a_session_redirects_to_sign_in_and_back(self, app: FastAPI) -> None:
        client = TestClient(app, follow_redirects=False)
        response = client.get("/console/devices?state=active")
        assert response.status_code == 303
        assert response.headers["location"] == (
            "/console/login?next=%2Fconsole%2Fdevices%3Fstate%3Dactive"
        )
        htmx = client.get("/console/devices", headers={"HX-Request": "true"})
        assert htmx.status_code == 204
        assert htmx.headers["HX-Redirect"].startswith("/console/login?next=")

    def test_a_forged_or_unknown_cookie_is_no_session(self, app: FastAPI) -> None:
        client = TestClient(app, follow_redirects=False)
        client.cookies.set("tabard_session", "A" * 43, path="/console")
        assert client.get("/console/fleet").status_code == 303


class TestSessionEnds:
    def test_sign_out_ends_the_session_for_good(
        self, browser_for: Callable[..., Browser], database
    ) -> None:
        browser = browser_for("it_admin")
        stolen = browser.client.cookies.get("tabard_session")
        browser.get("/console/fleet")
        assert browser.post("/console/logout").status_code == 303
        replay = TestClient(browser.client.app, follow_redirects=False)
        replay.cookies.set("tabard_session", stolen, path="/console")
        assert replay.get("/console/fleet").status_code == 303
        assert [e.detail for e in audit_events(database, "auth.logout")] == [{"via": "console"}]

    def test_idle_too_long_ends_the_session(
        self, browser_for: Callable[..., Browser], clock: FakeClock
    ) -> None:
        browser = browser_for("it_admin")
        assert browser.get("/console/fleet").status_code == 200
        clock.advance(minutes=29)
        assert browser.get("/console/fleet").status_code == 200
        clock.advance(minutes=29)  # the last request counted: 29 minutes idle again
        assert browser.get("/console/fleet").status_code == 200
        clock.advance(minutes=31)
        assert browser.get("/console/fleet").status_code == 303

    def test_a_session_ends_after_a_shift_however_busy(
        self, browser_for: Callable[..., Browser], clock: FakeClock
    ) -> None:
        browser = browser_for("it_admin")
        for _ in range(12 * 4 - 1):
            clock.advance(minutes=15)
            assert browser.get("/console/fleet").status_code == 200
        clock.advance(minutes=15)
        assert browser.get("/console/fleet").status_code == 303

    def test_disabling_the_account_ends_its_sessions(
        self, app: FastAPI, browser_for: Callable[..., Browser], admin_headers, client
    ) -> None:
        browser = browser_for("auditor")
        assert browser.get("/console/audit").status_code == 200
        response = client.post(
            f"/api/v1/users/{browser.user.username}/disable", headers=admin_headers
        )
        assert response.status_code == 200, response.text
        assert browser.get("/console/audit").status_code == 303


class TestPasswordChange:
    def test_a_new_account_must_choose_a_password_before_anything_else(
        self, app: FastAPI, database
    ) -> None:
        user = create_staff(app, role="officer", must_change_password=True)
        browser = fresh(app)
        response = browser.sign_in(user.username)
        assert response.headers["location"] == "/console/password"
        assert browser.get("/console/me").headers["location"] == "/console/password"
        browser.get("/console/password")
        weak = browser.post(
            "/console/password",
            {"current_password": PASSWORD, "new_password": "short", "confirm_password": "short"},
        )
        assert weak.status_code == 400
        assert "at least 12 characters" in weak.text
        old_cookie = browser.client.cookies.get("tabard_session")
        new = "a much longer passphrase indeed"
        done = browser.post(
            "/console/password",
            {"current_password": PASSWORD, "new_password": new, "confirm_password": new},
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/console/me"
        assert browser.client.cookies.get("tabard_session") != old_cookie
        assert browser.get("/console/me").status_code == 200
        replay = TestClient(app, follow_redirects=False)
        replay.cookies.set("tabard_session", old_cookie, path="/console")
        assert replay.get("/console/me").status_code == 303
        assert len(audit_events(database, "auth.password_changed")) == 1

    def test_a_wrong_current_password_changes_nothing(self, app: FastAPI, database) -> None:
        user = create_staff(app, role="officer", must_change_password=True)
        browser = fresh(app)
        browser.sign_in(user.username)
        browser.get("/console/password")
        new = "a much longer passphrase indeed"
        response = browser.post(
            "/console/password",
            {"current_password": "not it at all", "new_password": new, "confirm_password": new},
        )
        assert response.status_code == 401
        assert audit_events(database, "auth.password_changed") == []


class TestHousekeeping:
    def test_the_cleanup_job_forgets_sessions_a_day_after_they_end(
        self, app: FastAPI, browser_for: Callable[..., Browser], clock: FakeClock, database
    ) -> None:
        from mdm_server.scheduler import job_named, run_job

        browser_for("officer")
        context = app.state.context
        clock.advance(hours=12, minutes=1)  # past the absolute limit: ended, kept a day
        assert run_job(context, job_named(context, "cleanup"))["console_sessions_purged"] == 0
        assert count(database, ConsoleSession) == 1
        clock.advance(days=1)
        assert run_job(context, job_named(context, "cleanup"))["console_sessions_purged"] == 1
        assert count(database, ConsoleSession) == 0


class TestSecondFactorPage:
    def test_a_wrong_code_is_refused_on_the_code_page_and_a_recovery_code_works_once(
        self, app: FastAPI, database
    ) -> None:
        from tests.factories.staff import AUTHENTICATORS

        user = create_staff(app, role="it_admin", second_factor=True)
        browser = fresh(app)
        browser.get("/console/login")
        page = browser.post("/console/login", {"username": user.username, "password": PASSWORD})
        assert page.status_code == 200 and "Second factor" in page.text
        assert count(database, ConsoleSession) == 0
        challenge = page.text.split('name="challenge_token" value="')[1].split('"')[0]
        wrong = browser.post(
            "/console/login/code", {"challenge_token": challenge, "code": "000000"}
        )
        assert wrong.status_code == 401 and "wrong code" in wrong.text
        assert count(database, ConsoleSession) == 0
        recovery = AUTHENTICATORS[user.id].recovery_codes[0]
        done = browser.post("/console/login/code", {"challenge_token": challenge, "code": recovery})
        assert done.status_code == 303 and done.headers["location"] == "/console/fleet"
        again = fresh(app)
        again.get("/console/login")
        page = again.post("/console/login", {"username": user.username, "password": PASSWORD})
        challenge = page.text.split('name="challenge_token" value="')[1].split('"')[0]
        used = again.post("/console/login/code", {"challenge_token": challenge, "code": recovery})
        assert used.status_code == 401
