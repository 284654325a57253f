"""Releases in Chromium against `tabard serve`: an IT administrator starts a release from the
app's page (a pilot of two, half the fleet, then all), one phone answers that it is out of
space, the administrator widens it, halts it saying why, and rolls it back. Simulated phones
answer their installs with signed receipts over the real port. The app page, the release
page (running, halted, rolled back) and a refusal are photographed at 1400 and at 800 px
wide into test-artifacts/console/releases/<backend>/."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.apps.test_releases import answer
from tests.e2e.browser import chromium, new_page
from tests.e2e.harness import Tabard
from tests.e2e.test_console_browser import PASSWORD, create_user, sign_in
from tests.factories.devices import SimulatedDevice
from virtual_device.apk import build_apk

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(300)]
PACKAGE = "uk.police.pnc"
PHONES = 5
OUT_OF_SPACE = "INSTALL_FAILED_INSUFFICIENT_STORAGE"


def now() -> datetime:
    return datetime.now(UTC)


def phones(tabard: Tabard, api: httpx.Client) -> list[SimulatedDevice]:
    """Simulated phones enrolled over the real port with one token."""
    token = json.loads(
        tabard.run(
            "tokens", "create", "--group", "response", "--uses", str(PHONES), "--json"
        ).stdout
    )["token"]
    devices = []
    for _ in range(PHONES):
        device = SimulatedDevice()
        assert device.enrol(api, token).status_code == 201  # type: ignore[arg-type]
        devices.append(device)
    return devices


def answered(api: httpx.Client, device: SimulatedDevice, *, fail: str | None = None) -> Any:
    return answer(api, device, now, fail=fail)  # type: ignore[arg-type]


def test_a_release_run_from_the_console(tabard: Tabard, backend: str) -> None:
    tabard.bootstrap("admin", PASSWORD)
    with tabard.serving(), httpx.Client(base_url=tabard.url, timeout=30) as api:
        tabard.login("admin", PASSWORD)
        for code in (41, 42):
            apk = tabard.root / f"pnc-{code}.apk"
            apk.write_bytes(build_apk(PACKAGE, version_code=code, version_name=f"4.{code % 10}.0"))
            tabard.run("apps", "upload", str(apk), "--label", "PNC")
        devices = phones(tabard, api)
        tabard.run("apps", "release", PACKAGE, "41", "--stage", "all=fleet")
        for device in devices:
            answered(api, device)

        with chromium(tabard.url, f"releases/{backend}") as (browser, watch, camera):
            page = new_page(browser, watch, tablet=False)
            sign_in(page, tabard.url, "admin", PASSWORD, first_time=False)
            page.goto(f"{tabard.url}/console/apps/{PACKAGE}")
            expect(page.get_by_role("heading", name="Start a release")).to_be_visible()
            page.get_by_label("Version to release").select_option("42")
            page.get_by_label("Pilot devices").fill(f"{devices[0].serial}, {devices[1].serial}")
            page.get_by_label("Halt when more than").fill("60")
            camera.shoot(page, "app with a release to start")
            page.get_by_role("button", name="Start the release").click()
            page.wait_for_url("**?note=started")
            camera.shoot(page, "release started")

            answered(api, devices[0])
            answered(api, devices[1], fail=OUT_OF_SPACE)
            page.get_by_role("button", name="Widen to stage 2").click()
            page.wait_for_url("**?note=widen")
            for device in devices[2:]:
                answered(api, device)
            page.reload()
            expect(page.get_by_text(OUT_OF_SPACE).first).to_be_visible()
            camera.shoot(page, "release running with a failure")

            # Another administrator widens it from the command line; this page's button is
            # now stale, and the refusal says why.
            release_page = page.url.split("?")[0]
            tabard.run("apps", "widen", release_page.rsplit("/", 1)[1][:8])
            page.get_by_role("button", name="Widen to stage 3").click()
            expect(page.get_by_role("alert")).to_contain_text("last stage")
            camera.shoot(page, "release refused a widening")
            watch.forgive_refusal(f"{release_page}/widen", 409)
            page.get_by_role("link", name="Back to the page you came from").click()
            page.wait_for_url(lambda url: url.startswith(release_page))

            page.get_by_label("Why halt it").fill("Drivers report the app closing on start")
            page.get_by_role("button", name="Halt the release").click()
            page.wait_for_url("**?note=halt")
            expect(page.get_by_text("Drivers report the app closing on start")).to_be_visible()
            camera.shoot(page, "release halted")

            page.get_by_role("button", name="Roll back to version 41").click()
            page.wait_for_url("**?note=rollback")
            answered(api, devices[0])
            for device in devices[2:]:  # only the one that took version 42 is sent anything
                answered(api, device, fail="INSTALL_FAILED_VERSION_DOWNGRADE")
            page.reload()
            camera.shoot(page, "release rolled back")

            page.goto(f"{tabard.url}/console/apps/{PACKAGE}")
            expect(page.get_by_role("heading", name="Releases")).to_be_visible()
            camera.shoot(page, "app with its releases")

            create_user(tabard, "auditor", "auditor")
            auditor = new_page(browser, watch, tablet=False)
            sign_in(auditor, tabard.url, "auditor", PASSWORD, first_time=True)
            auditor.goto(release_page)
            expect(auditor.get_by_role("heading", name="Stages")).to_be_visible()
            expect(auditor.get_by_role("button")).to_have_count(1)  # signing out, no more
            camera.shoot(auditor, "release as the auditor reads it")

            assert watch.errors == [] and watch.foreign == []
            assert camera.inaccessible == [] and camera.cut_off == []
