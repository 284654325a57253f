"""The console's app catalogue: IT administrators and auditors see each app's versions and
signer; IT administrators accept and approve a signer change (two different people); the
other roles cannot open it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.console.conftest import Browser
from tests.factories.apps import PACKAGE, apk, upload, uploaded


@pytest.fixture
def held(client: TestClient, admin_headers: dict[str, str]) -> dict[str, object]:
    """OPTIK at version 1, and version 2 held for a new signer."""
    first = uploaded(client, admin_headers, apk(version_code=1, version_name="4.1.0"))
    refused = upload(client, admin_headers, apk(version_code=2, signer="rotated"))
    assert refused.status_code == 409
    return {"first": first, "came": refused.json()["detail"]["came"]}


class TestCatalogue:
    def test_the_list_shows_latest_version_signer_and_count(
        self, browser_for: Callable[..., Browser], held: dict[str, object]
    ) -> None:
        page = browser_for("it_admin").get("/console/apps")
        assert page.status_code == 200
        text = page.text
        assert f'href="/console/apps/{PACKAGE}"' in text
        short = held["first"]["signer"]["short"]  # type: ignore[index]
        assert short[:4] in text and short[12:] in text
        assert "change waiting" in text
        assert '<td class="num">2</td>' in text  # versions
        assert "4.1.0" in text

    def test_the_app_page_shows_versions_signer_and_the_waiting_change(
        self, browser_for: Callable[..., Browser], held: dict[str, object]
    ) -> None:
        page = browser_for("it_admin").get(f"/console/apps/{PACKAGE}").text
        assert "Pinned signer" in page
        assert "Signer change waiting" in page
        assert "Accept the new signer" in page
        assert 'class="badge warn">held' in page
        assert 'class="badge good">available' in page
        assert " UTC" in page  # times to the second with their zone

    def test_one_admin_accepts_and_another_approves(
        self, browser_for: Callable[..., Browser], held: dict[str, object]
    ) -> None:
        first = browser_for("it_admin")
        first.get(f"/console/apps/{PACKAGE}")
        accepted = first.post(f"/console/apps/{PACKAGE}/signer/accept")
        assert accepted.status_code == 303, accepted.text
        page = first.get(accepted.headers["location"]).text
        assert "A different IT administrator must now approve it" in page
        assert "Approve the new signer" not in page  # not to the one who accepted it
        assert "You accepted it: a different IT administrator must approve it." in page
        own = first.post(f"/console/apps/{PACKAGE}/signer/approve")
        assert own.status_code == 403
        assert "a different IT administrator must approve it" in own.text

        second = browser_for("it_admin")
        assert "Approve the new signer" in second.get(f"/console/apps/{PACKAGE}").text
        approved = second.post(f"/console/apps/{PACKAGE}/signer/approve")
        assert approved.status_code == 303, approved.text
        page = second.get(approved.headers["location"]).text
        came = held["came"]["short"]  # type: ignore[index]
        assert "Signer change waiting" not in page
        assert "Signer changes decided" in page
        assert came[:4] in page

    def test_auditors_read_without_buttons(
        self, browser_for: Callable[..., Browser], held: dict[str, object]
    ) -> None:
        auditor = browser_for("auditor")
        assert 'href="/console/apps"' in auditor.get("/console/audit").text
        page = auditor.get(f"/console/apps/{PACKAGE}")
        assert page.status_code == 200
        assert "Signer change waiting" in page.text
        assert "Accept the new signer" not in page.text
        refused = auditor.post(f"/console/apps/{PACKAGE}/signer/accept")
        assert refused.status_code == 403

    @pytest.mark.parametrize("role", ["supervisor", "officer", "missing_persons", "mash"])
    def test_other_roles_cannot_open_it(
        self, browser_for: Callable[..., Browser], held: dict[str, object], role: str
    ) -> None:
        browser = browser_for(role)
        assert browser.get("/console/apps").status_code == 403
        assert browser.get(f"/console/apps/{PACKAGE}").status_code == 403
