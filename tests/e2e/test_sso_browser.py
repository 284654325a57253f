"""Single sign-on for real: a `tabard serve` configured for an OpenID provider the test runs
(oidc-provider under Node, tests/oidc), the console signed in to through it in Chromium, a
person whose groups give no role shown why they cannot come in, "Confirm it is you" sending
a signed-in person to the provider to sign in again and back, and `tabard login --sso`
completing the device grant. Tabard's pages are photographed at 1400 and 800 px into
test-artifacts/console/sso-<backend>/."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import chromium, new_page
from tests.e2e.harness import Tabard
from tests.oidc.provider import CLIENT_SECRET, OpenIdProvider, ProviderBrowser

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
USER_CODE = re.compile(r"code\s+([A-Z]{4}-[A-Z]{4})")


@pytest.fixture
def provider(tabard: Tabard) -> Iterator[OpenIdProvider]:
    running = OpenIdProvider(tabard.root, [f"{tabard.url}/console/sso/callback"])
    running.start()
    tabard.extra_env.update(running.environment())
    yield running
    running.stop()


def sign_in_at_provider(page, login: str) -> None:  # type: ignore[no-untyped-def]
    """The provider's own pages: its sign-in form (any password), then its consent page."""
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()


@pytest.mark.browser
class TestConsoleSingleSignOn:
    def test_staff_sign_in_through_the_force_and_others_are_told_why_not(
        self, tabard: Tabard, provider: OpenIdProvider, backend: str
    ) -> None:
        tabard.run("db", "upgrade")
        with (
            tabard.serving() as log,
            chromium(tabard.url, f"sso-{backend}") as (browser, watch, camera),
        ):
            page = new_page(browser, watch)
            page.goto(f"{tabard.url}/console")
            page.wait_for_url("**/console/login?next=*")
            camera.shoot(page, "sign in with the force")
            page.get_by_role("link", name="Sign in with Example Police sign-in").click()
            page.wait_for_url(f"{provider.issuer}/interaction/*")
            sign_in_at_provider(page, "jo.it")
            page.wait_for_url(f"{tabard.url}/console/fleet*")
            page.wait_for_load_state("networkidle")
            expect(page.get_by_text("jo.it")).to_be_visible()
            camera.shoot(page, "signed in by the force")

            # Before an action that cannot be undone: the force's sign-in asks again (max_age=0
            # and prompt=login, though the provider still has the person signed in), and the
            # person comes back to the page they acted from.
            page.goto(f"{tabard.url}/console/step-up?next=/console/fleet")
            expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
            expect(page.locator("input[name=code]")).to_have_count(0)
            camera.shoot(page, "confirm it is you with the force")
            page.get_by_role("link", name="Sign in again with Example Police sign-in").click()
            page.wait_for_url(f"{provider.issuer}/interaction/*")
            page.locator("input[name=login]").fill("jo.it")
            page.locator("input[name=password]").fill("any password")
            page.get_by_role("button", name="Sign-in").click()
            page.wait_for_url(f"{tabard.url}/console/fleet*")
            expect(page.get_by_text("jo.it")).to_be_visible()

            stranger = new_page(browser, watch)
            stranger.goto(f"{tabard.url}/console/login")
            stranger.get_by_role("link", name="Sign in with Example Police sign-in").click()
            sign_in_at_provider(stranger, "kim.payroll")
            stranger.wait_for_url(f"{tabard.url}/console/sso/callback*")
            expect(stranger.get_by_role("heading", name="No access to Tabard")).to_be_visible()
            expect(stranger.get_by_role("alert")).to_contain_text("You signed in, but none of")
            watch.forgive_refusal(stranger.url, 403)
            camera.shoot(stranger, "no tabard role")
        # The code the provider sent back, and Tabard's client secret, are in no log line.
        assert "code=" not in "".join(log)
        assert CLIENT_SECRET not in "".join(log)
        ours = [error for error in watch.errors if error.startswith(tabard.url)]
        assert ours == []
        # Beyond Tabard only the provider, and the web font its own pages ask for.
        assert all(
            url.startswith(provider.issuer) or url.startswith("https://fonts.googleapis.com/")
            for url in watch.foreign
        ), watch.foreign
        assert camera.inaccessible == []
        assert camera.cut_off == []


class TestCliSingleSignOn:
    def test_tabard_login_sso_by_the_device_grant(
        self, tabard: Tabard, provider: OpenIdProvider
    ) -> None:
        tabard.run("db", "upgrade")
        with tabard.serving() as log:
            login = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tabard",
                    "login",
                    "--sso",
                    "--server",
                    tabard.url,
                    "--json",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=tabard.env(),
            )
            said: list[str] = []
            shown = threading.Event()

            def read() -> None:
                assert login.stderr is not None
                for line in login.stderr:
                    said.append(line)
                    if USER_CODE.search(" ".join(said)):
                        shown.set()
                shown.set()

            threading.Thread(target=read, daemon=True).start()
            assert shown.wait(60), "".join(said)
            match = USER_CODE.search(" ".join(said))
            assert match is not None, "".join(said)
            assert provider.issuer + "/device" in "".join(said)
            ProviderBrowser(provider).approve_device(match.group(1), login="jo.it")
            out, _ = login.communicate(timeout=120)
            assert login.returncode == 0, "".join(said)
            signed_in = json.loads(out)
            assert signed_in["user"]["username"] == "jo.it"
            assert signed_in["user"]["role"] == "it_admin"
            # The stored session is an ordinary one: an IT administrator's command works.
            listed = json.loads(tabard.run("users", "list", "--json").stdout)
            assert [user["username"] for user in listed["items"]] == ["jo.it"]
        assert match.group(1) not in "".join(log)
        assert CLIENT_SECRET not in "".join(log)
