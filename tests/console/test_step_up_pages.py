"""Step-up in the console: an action that cannot be undone, asked for once the sign-in's
second factor is older than the step-up window, sends the person to confirm it is them and
back to the page they acted from; nothing is done until they have."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI

from mdm_server.commands.models import Command
from mdm_server.config import Settings
from mdm_server.db import Database
from tests.conftest import FakeClock, make_settings
from tests.console.conftest import Browser
from tests.factories.devices import SimulatedDevice
from tests.factories.staff import context_of, second_factor_code
from tests.support import audit_events, count


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Second factors required of IT administrators and auditors, as a force turns them on."""
    return make_settings(tmp_path / "data", second_factor_required=True)


def pending_wipe(browser: Browser, enrolled: SimulatedDevice) -> str:
    """A full wipe asked for by `browser`'s administrator: its command id."""
    browser.get(f"/console/devices/{enrolled.device_id}")
    sent = browser.post(
        f"/console/devices/{enrolled.device_id}/commands",
        {"type": "wipe_device", "reason": "seized phone"},
    )
    assert sent.status_code == 303, sent.text
    queue = browser.get("/console/commands").text
    (command_id,) = set(re.findall(r"/console/commands/([0-9a-f-]{36})", queue))
    return command_id


def past_the_window(app: FastAPI, clock: FakeClock) -> None:
    clock.advance(seconds=context_of(app).settings.step_up_max_age_s + 1)


class TestStepUpInTheConsole:
    def test_approving_a_wipe_asks_again_and_returns_to_the_command(
        self,
        app: FastAPI,
        clock: FakeClock,
        database: Database,
        enrolled: SimulatedDevice,
        browser_for: Callable[..., Browser],
    ) -> None:
        command_id = pending_wipe(browser_for("it_admin"), enrolled)
        second = browser_for("it_admin")
        past_the_window(app, clock)
        page = f"/console/commands/{command_id}"
        second.get(page)
        asked = second.post(f"{page}/approve", headers={"referer": f"http://testserver{page}"})
        assert asked.status_code == 303
        target = urlsplit(asked.headers["location"])
        assert target.path == "/console/step-up"
        assert parse_qs(target.query)["next"] == [page]
        assert audit_events(database, "command.approved") == []

        form = second.get(asked.headers["location"])
        assert form.status_code == 200
        assert "cannot be undone" in form.text and 'name="code"' in form.text
        wrong = second.post("/console/step-up", {"code": "000000", "next": page})
        assert wrong.status_code == 401 and 'role="alert"' in wrong.text
        assert second.post(f"{page}/approve").status_code == 303  # still asked
        assert audit_events(database, "command.approved") == []

        code = second_factor_code(app, second.user)  # type: ignore[attr-defined]
        confirmed = second.post("/console/step-up", {"code": code, "next": page})
        assert (confirmed.status_code, confirmed.headers["location"]) == (303, page)
        second.get(page)
        approved = second.post(f"{page}/approve")
        assert (approved.status_code, approved.headers["location"]) == (303, page)
        assert len(audit_events(database, "command.approved")) == 1
        assert "queued" in second.get(page).text

    def test_within_the_window_of_the_sign_in_nothing_more_is_asked(
        self,
        database: Database,
        enrolled: SimulatedDevice,
        browser_for: Callable[..., Browser],
    ) -> None:
        command_id = pending_wipe(browser_for("it_admin"), enrolled)
        second = browser_for("it_admin")  # signed in with a code just now
        second.get(f"/console/commands/{command_id}")
        approved = second.post(f"/console/commands/{command_id}/approve")
        assert approved.headers["location"] == f"/console/commands/{command_id}"
        assert count(database, Command) == 1
        assert len(audit_events(database, "command.approved")) == 1

    def test_a_bundle_asks_again_and_the_way_back_stays_on_this_server(
        self, app: FastAPI, clock: FakeClock, browser_for: Callable[..., Browser]
    ) -> None:
        auditor = browser_for("auditor")
        past_the_window(app, clock)
        auditor.get("/console/audit/bundle")
        asked = auditor.post(
            "/console/audit/bundle",
            {"start": "2026-11-21T00:00", "end": "2026-11-22T00:00"},
            headers={"referer": "https://elsewhere.example/console/audit/bundle"},
        )
        assert asked.status_code == 303
        assert parse_qs(urlsplit(asked.headers["location"]).query).get("next") is None
        code = second_factor_code(app, auditor.user)  # type: ignore[attr-defined]
        auditor.get("/console/step-up")
        elsewhere = auditor.post(
            "/console/step-up", {"code": code, "next": "https://elsewhere.example/"}
        )
        assert elsewhere.status_code == 303
        assert elsewhere.headers["location"].startswith("/console")
        auditor.get("/console/audit/bundle")
        bundle = auditor.post(
            "/console/audit/bundle", {"start": "2026-11-21T00:00", "end": "2026-11-22T00:00"}
        )
        assert bundle.status_code == 200, bundle.text
        assert bundle.headers["content-type"] == "application/zip"

    def test_a_policy_for_the_whole_fleet_asks_again_a_group_does_not(
        self,
        app: FastAPI,
        clock: FakeClock,
        database: Database,
        browser_for: Callable[..., Browser],
    ) -> None:
        from mdm_server.policies.models import PolicyAssignment

        admin = browser_for("it_admin")
        admin.get("/console/policies")
        saved = admin.post(
            "/console/policies",
            {"text": "name: baseline\ndevice:\n  passcode:\n    min_length: 6\n"},
        )
        assert saved.status_code == 303, saved.text
        past_the_window(app, clock)
        admin.get("/console/policies")
        group = admin.post(
            "/console/policies/baseline/assign", {"scope": "group", "target": "north"}
        )
        assert group.status_code == 303 and group.headers["location"] == "/console/policies"
        fleet = admin.post("/console/policies/baseline/assign", {"scope": "fleet"})
        assert urlsplit(fleet.headers["location"]).path == "/console/step-up"
        assert count(database, PolicyAssignment) == 1  # the group's alone
