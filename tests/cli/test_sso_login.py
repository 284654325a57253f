"""`tabard login --sso` in process against a live server configured for the suite's own
OpenID provider (tests/oidc): the address and code shown, with a QR code, the person signing
in at the provider while the CLI waits, and the stored session an ordinary one. The wait
between polls is where the test plays the person, so nothing sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from mdm_server.cli import accounts
from tests.cli.conftest import Live
from tests.oidc.provider import OpenIdProvider, ProviderBrowser, running_provider


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[OpenIdProvider]:
    yield from running_provider(tmp_path, ["http://127.0.0.1/console/sso/callback"])


@pytest.fixture
def live_settings(provider: OpenIdProvider) -> dict[str, object]:
    return provider.settings()


class TestLoginSso:
    def test_signs_in_by_the_device_grant_and_keeps_the_session(
        self, live: Live, provider: OpenIdProvider, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        shown: list[str] = []
        waits: list[float] = []
        monkeypatch.setattr(accounts, "show_qr", shown.append)

        def person_signs_in(seconds: float) -> None:
            waits.append(seconds)
            (code,) = parse_qs(urlsplit(shown[0]).query)["user_code"]
            ProviderBrowser(provider).approve_device(code, login="jo.it")

        monkeypatch.setattr(accounts, "pause", person_signs_in)
        result = live.ok("login", "--server", live.url, "--sso")
        (code,) = parse_qs(urlsplit(shown[0]).query)["user_code"]
        assert f"{provider.issuer}/device" in result.output
        assert code in result.output
        assert waits == [5.0]  # the provider's interval, once: then the person had signed in
        assert "Logged in to" in result.output and "jo.it" in result.output
        listed = live.ok("users", "list")
        assert "jo.it" in listed.output

    def test_says_what_to_give_without_a_username_or_sso(self, live: Live) -> None:
        said = live.refused("login", "--server", live.url)
        assert "give --username" in said and "--sso" in said

    def test_sso_takes_no_username(self, live: Live) -> None:
        said = live.refused("login", "--server", live.url, "--sso", "--username", "jo.it")
        assert "leave out --username" in said
