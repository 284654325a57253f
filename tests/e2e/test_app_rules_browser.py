"""The secure side's app rules on the device page, in Chromium against `tabard serve`: the
fleet's policy requires PNC at version 42 or newer from yesterday and blocks an old forms app.
One phone reports PNC 41, the other has no PNC and still holds the blocked app. Each device
page shows the app versions the phone reported and the findings in words, photographed at 1400
and at 800 px wide into test-artifacts/console/app-rules/<backend>/."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
import yaml
from playwright.sync_api import expect

from tests.console.test_findings_in_words import findings
from tests.e2e.browser import chromium, new_page
from tests.e2e.harness import Tabard
from tests.e2e.test_console_browser import PASSWORD, sign_in
from tests.factories.devices import SimulatedDevice

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(300)]
PNC = "uk.police.pnc"
OLD_FORMS = "uk.police.oldforms"


def policy() -> dict[str, object]:
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    return {
        "name": "apps",
        "secure_side": {
            "allowed_apps": [
                {
                    "package": PNC,
                    "assignment": "required",
                    "min_version_code": 42,
                    "min_version_from": yesterday,
                },
                {"package": "uk.police.optik"},
            ],
            "blocked_apps": [OLD_FORMS],
        },
        "enforcement": {
            "ladders": {
                "medium": [
                    {"action": "notify", "after_hours": 0},
                    {"action": "block_secure_side", "after_hours": 72},
                ],
                "high": [
                    {"action": "notify", "after_hours": 0},
                    {"action": "block_secure_side", "after_hours": 24},
                ],
            }
        },
    }


def test_app_versions_and_the_app_rules_on_the_device_page(tabard: Tabard, backend: str) -> None:
    tabard.bootstrap("admin", PASSWORD)
    with tabard.serving(), httpx.Client(base_url=tabard.url, timeout=30) as api:
        tabard.login("admin", PASSWORD)
        document = tabard.root / "apps.yaml"
        document.write_text(yaml.safe_dump(policy()))
        tabard.run("policy", "apply", str(document), "--to", "fleet")
        token = json.loads(
            tabard.run("tokens", "create", "--group", "response", "--uses", "2", "--json").stdout
        )["token"]
        behind, lacking = SimulatedDevice(), SimulatedDevice()
        for phone, work in (
            (behind, {PNC: 41, "uk.police.optik": 5}),
            (lacking, {OLD_FORMS: 3, "uk.police.optik": 5}),
        ):
            assert phone.enrol(api, token).status_code == 201  # type: ignore[arg-type]
            posture = phone.posture(
                apps={"personal": ["com.whatsapp"], "work": sorted(work)},
                app_versions={"work": work},
            )
            checked = phone.checkin(api, now=datetime.now(UTC), posture=posture)  # type: ignore[arg-type]
            assert checked.status_code == 200, checked.text

        with chromium(tabard.url, f"app-rules/{backend}") as (browser, watch, camera):
            page = new_page(browser, watch, tablet=False)
            sign_in(page, tabard.url, "admin", PASSWORD, first_time=False)

            page.goto(f"{tabard.url}/console/devices/{behind.device_id}")
            versions = page.locator("[data-app-versions] li")
            expect(versions).to_have_text(["uk.police.optik 5", f"{PNC} 41"])  # by name
            rows = findings(page.content())
            row = rows["App versions on the secure side"]
            assert row["Status"].startswith("non compliant"), row
            assert f"{PNC} at 41" in row["Actual"]
            assert f"{PNC} at least 42 from" in row["Expected"]
            assert rows["Required apps on the secure side"]["Actual"] == "all there"
            assert "whatsapp" not in page.locator("[data-app-versions]").inner_text()
            camera.shoot(page, "device with an old police app")

            page.goto(f"{tabard.url}/console/devices/{lacking.device_id}")
            rows = findings(page.content())
            assert rows["Required apps on the secure side"]["Actual"] == f"missing: {PNC}"
            assert rows["Blocked apps on the secure side"]["Actual"] == f"there: {OLD_FORMS}"
            camera.shoot(page, "device without a required app and with a blocked one")

            assert watch.errors == [] and watch.foreign == []
            assert camera.inaccessible == [] and camera.cut_off == []
