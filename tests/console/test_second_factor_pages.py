"""Setting up a second factor in the console: an IT administrator who must have one is sent
to set it up, scans the QR code (here: reads the key), confirms it with a code, sees ten
recovery codes once, and can remove it again with a code."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.auth import factors
from mdm_server.config import Settings
from mdm_server.db import Database
from tests.conftest import FakeClock, make_settings
from tests.console.conftest import Browser
from tests.factories.staff import create_staff
from tests.support import audit_events

PAGE = "/console/second-factor"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Second factors required of IT administrators and auditors, as a force turns them on."""
    return make_settings(tmp_path / "data", second_factor_required=True)


@pytest.fixture
def browser(app: FastAPI) -> Iterator[Browser]:
    """An IT administrator without a factor yet, signed in with the password alone."""
    with TestClient(app, follow_redirects=False) as client:
        signed_in = Browser(client)
        user = create_staff(app, role="it_admin", second_factor=False)
        assert signed_in.sign_in(user.username).status_code == 303
        yield signed_in


def key_of(page: str) -> str:
    found = re.search(r"<code[^>]*data-secret>([A-Z2-7 ]+)</code>", page)
    assert found, "no key on the set-up page"
    return found.group(1).replace(" ", "")


class TestSettingUpInTheConsole:
    def test_a_role_that_must_have_one_is_sent_here_and_sets_one_up(
        self, browser: Browser, clock: FakeClock, database: Database
    ) -> None:
        sent = browser.get("/console/devices")
        assert (sent.status_code, sent.headers["location"]) == (303, PAGE)
        page = browser.get(PAGE).text
        assert "must have a second factor before anything else" in page

        setting_up = browser.post(f"{PAGE}/enrol")
        assert setting_up.status_code == 200
        assert "<svg" in setting_up.text and "data-qr" in setting_up.text
        key = key_of(setting_up.text)
        assert browser.get("/console/devices").status_code == 303  # not yet

        wrong = browser.post(f"{PAGE}/confirm", {"code": "000000"})
        assert wrong.status_code == 400 and "not the code your app shows now" in wrong.text
        assert key_of(wrong.text) == key  # the same key, still to be confirmed

        previous = clock() - timedelta(seconds=factors.STEP_S)
        done = browser.post(f"{PAGE}/confirm", {"code": pyotp.TOTP(key).at(previous)})
        assert done.status_code == 200
        shown = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.text)
        assert len(shown) == 10 and "not shown again" in done.text
        assert "<svg" not in done.text and key not in html.unescape(done.text)
        assert len(audit_events(database, "auth.second_factor_enrolled")) == 1

        assert browser.get("/console/devices").status_code == 200
        after = browser.get(PAGE).text
        assert "Your authenticator app is set up" in after and "10 recovery codes left" in after
        assert not any(code in after for code in shown)  # shown that once only

        refused = browser.post(f"{PAGE}/remove", {"code": "000000"})
        assert refused.status_code == 401 and 'role="alert"' in refused.text
        removed = browser.post(f"{PAGE}/remove", {"code": shown[0]})
        assert (removed.status_code, removed.headers["location"]) == (303, PAGE)
        assert len(audit_events(database, "auth.second_factor_removed")) == 1
        assert browser.get("/console/devices").headers["location"] == PAGE

    def test_every_page_links_to_it_and_someone_without_a_duty_may_set_one_up(
        self, app: FastAPI, database: Database
    ) -> None:
        with TestClient(app, follow_redirects=False) as client:
            supervisor = Browser(client)
            user = create_staff(app, role="supervisor", division="north")
            assert supervisor.sign_in(user.username).status_code == 303
            home = supervisor.get("/console/demand")
            assert home.status_code == 200 and f'href="{PAGE}"' in home.text
            page = supervisor.get(PAGE).text
            assert "must have" not in page and "Set up an authenticator app" in page
            assert supervisor.post(f"{PAGE}/enrol").status_code == 200
            assert len(audit_events(database, "auth.second_factor_enrolment_started")) == 1
