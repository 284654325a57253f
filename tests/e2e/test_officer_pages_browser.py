"""An officer's console pages in a real browser, after professional standards have flagged,
read and escalated their search of their own record: at 1400 and at 800 px wide, the pages
show the officer's own work and nothing of the flag (docs/appropriate-use.md, "What an
officer sees"). Each page is photographed into test-artifacts/console/<backend>-officer/."""

from __future__ import annotations

import httpx
import pytest
import yaml
from playwright.sync_api import expect

from tests.e2e.agents import agent_running
from tests.e2e.browser import chromium, new_page
from tests.e2e.harness import Tabard
from tests.e2e.test_console_browser import (
    NEW_PASSWORD,
    WATCHFUL,
    create_user,
    load_directory,
    nav,
    officer_searches_themselves,
    sign_in,
)
from tests.e2e.test_secure_side import COLLAR, PASSWORD, enrol_assigned_j5

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(600)]
NOTE = "Searched own record; refer to line manager."
WIDTHS = (1400, 800)


def professional_standards_escalate(tabard: Tabard) -> str:
    """The auditor reads the flag the officer's search raised and escalates it; its id."""
    with httpx.Client(base_url=tabard.url, timeout=30) as api:
        login = api.post(
            "/api/v1/auth/login", json={"username": "ps-auditor", "password": NEW_PASSWORD}
        )
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        (flag,) = api.get("/api/v1/audit/flags", headers=bearer).json()["items"]
        assert api.get(f"/api/v1/audit/flags/{flag['id']}", headers=bearer).is_success
        escalated = api.post(
            f"/api/v1/audit/flags/{flag['id']}/review",
            json={"decision": "escalated", "note": NOTE},
            headers=bearer,
        )
        assert escalated.status_code == 200, escalated.text
        searched = api.get("/api/v1/audit/search", params={"officer": COLLAR}, headers=bearer)
        assert searched.status_code == 200, searched.text
        return str(flag["id"])


class TestOfficerPagesInABrowser:
    def test_say_nothing_of_a_flag_at_either_width(self, tabard: Tabard, backend: str) -> None:
        tabard.extra_env["TABARD_CHECKIN_INTERVAL_S"] = "3600"
        tabard.bootstrap("admin", PASSWORD)
        with tabard.serving():
            tabard.login("admin", PASSWORD)
            state = enrol_assigned_j5(tabard)
            policy = tabard.root / "watchful.yaml"
            policy.write_text(yaml.safe_dump(WATCHFUL))
            tabard.run("policy", "apply", str(policy), "--to", "fleet")
            create_user(tabard, "ps-auditor", "auditor")
            load_directory(tabard, "ps-auditor")
            with (
                agent_running(tabard, state),
                chromium(tabard.url, f"{backend}-officer") as (
                    browser,
                    watch,
                    camera,
                ),
            ):
                officer_searches_themselves(tabard, state)
                flag_id = professional_standards_escalate(tabard)
                for width in WIDTHS:
                    page = new_page(browser, watch, tablet=width <= 800)
                    page.set_viewport_size({"width": width, "height": 900})
                    first_time = width == WIDTHS[0]
                    password = PASSWORD if first_time else NEW_PASSWORD
                    sign_in(page, tabard.url, "pc-4021", password, first_time=first_time)
                    if first_time:  # the camera takes each page at both widths
                        camera.shoot(page, "officer my device")
                    nav(page, "My usage")
                    table = page.locator("table")
                    expect(table).to_contain_text("Person search")
                    expect(table).to_contain_text("Acknowledged the appropriate-use policy")
                    if first_time:
                        camera.shoot(page, "officer usage")
                    for shown in (page.locator("body").inner_text(), page.content()):
                        for word in ("flag", "review", "ps-auditor", flag_id, NOTE):
                            assert word.lower() not in shown.lower(), (width, word)
                    page.context.close()
                assert watch.errors == [], watch.errors
                assert watch.foreign == [], watch.foreign
                assert camera.inaccessible == [], "\n".join(camera.inaccessible)
                assert camera.cut_off == [], "\n".join(camera.cut_off)
                assert len(camera.taken) == 4
