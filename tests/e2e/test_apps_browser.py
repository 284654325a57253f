"""The app catalogue in Chromium against `tabard serve`: an IT administrator uploads two
versions with the CLI (the second signed by a new key, so it is held), finds them on the
Apps page, accepts the new signer, and a second administrator approves it. Each page is
photographed at 1400 and at 800 px wide into test-artifacts/console/apps/<backend>/."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import chromium, new_page
from tests.e2e.harness import Tabard
from tests.e2e.test_console_browser import PASSWORD, create_user, nav, sign_in
from tests.factories.apps import PACKAGE, apk

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(300)]


def write(root: Path, name: str, data: bytes) -> str:
    path = root / name
    path.write_bytes(data)
    return str(path)


def test_the_catalogue_and_a_signer_change_in_the_console(tabard: Tabard, backend: str) -> None:
    tabard.bootstrap("admin", PASSWORD)
    with tabard.serving():
        tabard.login("admin", PASSWORD)
        create_user(tabard, "it-second", "it_admin")
        v1 = write(
            tabard.root, "v1.apk", apk(version_code=41, version_name="4.1.0", padding=3 << 20)
        )
        v2 = write(
            tabard.root, "v2.apk", apk(version_code=42, version_name="4.2.0", signer="rotated")
        )
        tabard.run("apps", "upload", v1, "--label", "OPTIK")
        tabard.run("apps", "upload", write(tabard.root, "m.apk", apk("uk.police.mispers")))
        refused = tabard.run("apps", "upload", v2, check=False)
        assert refused.returncode == 1 and "signer_mismatch" in refused.stderr

        with chromium(tabard.url, f"apps/{backend}") as (browser, watch, camera):
            page = new_page(browser, watch, tablet=False)
            sign_in(page, tabard.url, "admin", PASSWORD, first_time=False)
            nav(page, "Apps")
            expect(page.get_by_role("link", name="OPTIK")).to_be_visible()
            camera.shoot(page, "apps catalogue")
            page.get_by_role("link", name="OPTIK").click()
            page.wait_for_url(f"**/console/apps/{PACKAGE}")
            expect(page.get_by_role("heading", name="Signer change waiting")).to_be_visible()
            camera.shoot(page, "app with a signer change waiting")
            page.get_by_role("button", name="Accept the new signer").click()
            page.wait_for_url("**?note=accept")
            camera.shoot(page, "app signer accepted")

            second = new_page(browser, watch, tablet=False)
            sign_in(second, tabard.url, "it-second", PASSWORD, first_time=True)
            second.goto(f"{tabard.url}/console/apps/{PACKAGE}")
            second.get_by_role("button", name="Approve the new signer").click()
            second.wait_for_url("**?note=approve")
            expect(second.get_by_text("Signer changes decided")).to_be_visible()
            camera.shoot(second, "app signer approved")

            assert watch.errors == [] and watch.foreign == []
            assert camera.inaccessible == [] and camera.cut_off == []
