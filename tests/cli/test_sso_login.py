"""`tabard login --sso` in process against a live server configured for the suite's own
OpenID provider (tests/oidc): the address and code shown, with a QR code, the person signing
in at the provider while the CLI waits, and the stored session an ordinary one. The wait
between polls is where the test plays the person, so nothing sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from mdm_server.cli import accounts, session
from tests.cli.conftest import Live
from tests.factories.staff import context_of
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


class TestStepUpAfterSso:
    def test_a_stale_sign_in_is_told_to_sign_in_again_not_asked_for_a_code(
        self,
        live: Live,
        provider: OpenIdProvider,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        shown: list[str] = []
        monkeypatch.setattr(accounts, "show_qr", shown.append)

        def person_signs_in(seconds: float) -> None:
            (code,) = parse_qs(urlsplit(shown[-1]).query)["user_code"]
            ProviderBrowser(provider).approve_device(code, login="sam.audit")

        monkeypatch.setattr(accounts, "pause", person_signs_in)
        live.ok("login", "--server", live.url, "--sso")
        live.clock.advance(seconds=context_of(live.app).settings.step_up_max_age_s + 60)

        def asked_for_a_code(text: str) -> str:
            raise AssertionError(f"asked for a code: {text}")

        # At a terminal, where a local account would be asked for its code.
        monkeypatch.setattr(
            session, "sys", SimpleNamespace(stdin=SimpleNamespace(isatty=lambda: True))
        )
        monkeypatch.setattr(session.typer, "prompt", asked_for_a_code)
        bundle = tmp_path / "bundle.zip"
        export = ("audit", "export", "--from", "2026-11-21", "--to", "2026-11-22", "--out")
        said = live.refused(*export, str(bundle))
        assert "step_up_required" in said and "tabard login --sso" in said
        assert "tabard mfa" not in said
        assert not bundle.exists()
