"""Step-up in Chromium against `tabard serve`: an auditor signed in to the console before
setting up a second factor asks for an evidential bundle, is sent to confirm it is them,
comes back to the form, and gets the bundle; a wrong code on the way is shown as such."""

from __future__ import annotations

import json

import pyotp
import pytest
from playwright.sync_api import expect

from tests.e2e.browser import chromium, new_page
from tests.e2e.harness import Tabard
from tests.e2e.test_console_browser import NEW_PASSWORD, PASSWORD, create_user, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_an_evidential_bundle_waits_for_a_fresh_second_factor(tabard: Tabard) -> None:
    tabard.bootstrap("admin", PASSWORD)
    with tabard.serving():
        tabard.login("admin", PASSWORD, enrol=False)
        create_user(tabard, "psd-audit", "auditor")
        with chromium(tabard.url, "step-up") as (browser, watch, camera):
            page = new_page(browser, watch)
            sign_in(page, tabard.url, "psd-audit", PASSWORD, first_time=True)
            # A factor set up after this browser signed in: its session has not used it.
            tabard.login("psd-audit", NEW_PASSWORD, enrol=False)
            phone = tabard.enrol_factor("psd-audit")

            page.goto(f"{tabard.url}/console/audit/bundle")
            page.get_by_label("From (UTC)").fill("2020-01-01T00:00")
            page.get_by_label("Until (UTC)").fill("2099-01-01T00:00")
            page.get_by_role("button", name="Download bundle").click()
            page.wait_for_url("**/console/step-up?next=*")
            expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
            camera.shoot(page, "step-up asked")

            page.get_by_label("Code").fill("000000")
            page.get_by_role("button", name="Confirm").click()
            expect(page.get_by_role("alert")).to_contain_text("code")
            camera.shoot(page, "step-up wrong code")

            page.get_by_label("Code").fill(phone.code())
            page.get_by_role("button", name="Confirm").click()
            page.wait_for_url("**/console/audit/bundle")
            page.get_by_label("From (UTC)").fill("2020-01-01T00:00")
            page.get_by_label("Until (UTC)").fill("2099-01-01T00:00")
            with page.expect_download() as download:
                page.get_by_role("button", name="Download bundle").click()
            bundle = tabard.root / "bundle.zip"
            download.value.save_as(bundle)
            verified = tabard.run("audit", "verify-bundle", str(bundle), "--json")
            assert json.loads(verified.stdout)["events"] >= 1

            watch.forgive_refusal(f"{tabard.url}/console/step-up", 401)
            assert watch.errors == [] and watch.foreign == []
            assert camera.inaccessible == [] and camera.cut_off == []


def test_setting_up_a_second_factor_in_the_console(tabard: Tabard) -> None:
    tabard.bootstrap("admin", PASSWORD)
    with tabard.serving():
        tabard.login("admin", PASSWORD, enrol=False)
        create_user(tabard, "psd-lead", "auditor")
        with chromium(tabard.url, "second-factor") as (browser, watch, camera):
            page = new_page(browser, watch)
            sign_in(page, tabard.url, "psd-lead", PASSWORD, first_time=True)
            page.get_by_role("link", name="Second factor").click()
            page.wait_for_url("**/console/second-factor")
            camera.shoot(page, "second factor none")
            page.get_by_role("button", name="Set up an authenticator app").click()
            expect(page.locator("[data-qr] svg")).to_be_visible()
            camera.shoot(page, "second factor scan")
            key = page.locator("[data-secret]").inner_text().replace(" ", "")
            page.get_by_label("Code").fill(pyotp.TOTP(key).now())
            page.get_by_role("button", name="Finish setting up").click()
            expect(page.locator("[data-recovery-codes] li")).to_have_count(10)
            camera.shoot(page, "second factor recovery codes")
            page.goto(f"{tabard.url}/console/second-factor")
            expect(page.get_by_text("10 recovery codes left.")).to_be_visible()
            camera.shoot(page, "second factor set up")
            assert watch.errors == [] and watch.foreign == []
            assert camera.inaccessible == [] and camera.cut_off == []
