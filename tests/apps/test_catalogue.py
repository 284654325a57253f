"""The app catalogue over the API, on each storage backend: uploads pin a signer, repeat
themselves harmlessly, and refuse other bytes under a version code already taken, APKs that
are not APKs, and bodies past the limit; a new signer needs one IT administrator to accept
it and another to approve it; everyone but IT administrators and auditors is refused."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mdm_server.config import Settings
from mdm_server.db import Database
from mdm_server.main import create_app
from tests.conftest import FakeClock, make_settings
from tests.factories.apps import APK_TYPE, PACKAGE, apk, unsigned_apk, upload, uploaded
from tests.factories.staff import bearer, create_staff, headers_for
from tests.support import audit_events, error_of
from virtual_device.apk import build_apk

SMALL_BODY = 1024  # the limit on every other request body, in TestSizeLimit


def blobs(settings: Settings) -> list[Path]:
    """Every APK the store holds."""
    root = settings.data_dir / "apks"
    return sorted(p for p in root.glob("??/*.apk")) if root.exists() else []


class TestUpload:
    def test_the_first_upload_pins_its_signer(
        self, client: TestClient, admin_headers: dict[str, str], settings: Settings
    ) -> None:
        data = apk(version_code=3, version_name="4.2.0")
        response = upload(client, admin_headers, data, label="OPTIK")
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["created"] is True
        assert body["pinned_signer"] is True
        assert body["label"] == "OPTIK"
        version = body["version"]
        assert (version["package"], version["version_code"]) == (PACKAGE, 3)
        assert version["version_name"] == "4.2.0"
        assert version["sha256"] == hashlib.sha256(data).hexdigest()
        assert version["size"] == len(data)
        assert version["state"] == "available"
        assert version["signer_sha256"] == body["signer"]["sha256"]
        assert body["signer"]["short"] == body["signer"]["sha256"][:16]
        (stored,) = blobs(settings)
        assert stored.read_bytes() == data
        assert stored.name == f"{version['sha256']}.apk"
        assert stored.parent.name == version["sha256"][:2]
        assert stored.stat().st_mode & 0o777 == 0o600
        assert stored.parent.stat().st_mode & 0o777 == 0o700

    def test_the_same_version_again_is_found_not_added(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        settings: Settings,
        database: Database,
    ) -> None:
        data = apk()
        first = upload(client, admin_headers, data)
        again = upload(client, admin_headers, data)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["created"] is False
        assert again.json()["version"] == first.json()["version"]
        assert len(blobs(settings)) == 1
        shown = client.get(f"/api/v1/apps/{PACKAGE}", headers=admin_headers).json()
        assert shown["versions"] == 1
        assert len(audit_events(database, "app.version_uploaded")) == 2

    def test_the_same_version_code_with_other_bytes_is_refused(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        settings: Settings,
        database: Database,
    ) -> None:
        uploaded(client, admin_headers, apk(version_code=5))
        other = apk(version_code=5, padding=100)
        response = upload(client, admin_headers, other)
        assert response.status_code == 409
        assert error_of(response) == "version_exists"
        detail = response.json()["detail"]
        assert "version 5 of uk.police.optik is already in the catalogue" in detail
        assert "raise it and upload again" in detail
        assert len(blobs(settings)) == 1  # the refused bytes are gone
        (refused,) = audit_events(database, "app.upload_refused")
        assert refused.detail["reason"] == "version_exists"

    def test_a_later_version_signed_by_the_pinned_key_is_taken(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        uploaded(client, admin_headers, apk(version_code=1))
        later = uploaded(client, admin_headers, apk(version_code=2))
        assert later["created"] is True
        assert later["pinned_signer"] is False
        shown = client.get(f"/api/v1/apps/{PACKAGE}", headers=admin_headers).json()
        assert shown["latest_version_code"] == 2
        assert [v["version_code"] for v in shown["version_list"]] == [2, 1]

    @pytest.mark.parametrize(
        "data",
        [
            b"not an apk at all",
            b"",
            unsigned_apk(),
            build_apk(PACKAGE)[:-40],  # cut short
        ],
        ids=["text", "empty", "unsigned", "truncated"],
    )
    def test_what_is_not_a_signed_apk_leaves_no_bytes_and_no_row(
        self,
        client: TestClient,
        admin_headers: dict[str, str],
        settings: Settings,
        database: Database,
        data: bytes,
    ) -> None:
        response = upload(client, admin_headers, data)
        assert response.status_code == 422, response.text
        assert error_of(response) == "apk_invalid"
        assert isinstance(response.json()["detail"], str)
        assert blobs(settings) == []
        assert client.get("/api/v1/apps", headers=admin_headers).json() == []
        (refused,) = audit_events(database, "app.upload_refused")
        assert refused.detail["reason"] == "apk_invalid"
        assert refused.detail["sha256"] == hashlib.sha256(data).hexdigest()

    def test_a_body_that_is_not_an_apk_type_is_refused(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        response = client.post(
            "/api/v1/apps", content=apk(), headers={**admin_headers, "Content-Type": "text/plain"}
        )
        assert response.status_code == 415
        assert APK_TYPE in response.json()["detail"]


class TestSizeLimit:
    @pytest.fixture
    def app(self, tmp_path: Path, database: Database, clock: FakeClock) -> FastAPI:
        settings = make_settings(
            tmp_path / "data", apk_max_bytes=1 << 20, max_body_bytes=SMALL_BODY
        )
        return create_app(settings, database=database, clock=clock)

    def test_an_apk_past_the_limit_gets_413_and_leaves_nothing(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        large = apk() + os.urandom(2 << 20)
        declared = upload(client, admin_headers, large)
        assert declared.status_code == 413
        assert error_of(declared) == "payload_too_large"

        def streamed() -> object:
            yield large[: 1 << 19]
            yield large[1 << 19 :]

        chunked = client.post(
            "/api/v1/apps",
            content=streamed(),  # type: ignore[arg-type]
            headers={**admin_headers, "Content-Type": APK_TYPE},
        )
        assert chunked.status_code == 413
        data_dir = app.state.context.settings.data_dir
        assert list((data_dir / "apks").rglob("*.apk")) == []
        assert list((data_dir / "apks").rglob("*.part")) == []

    def test_an_apk_larger_than_other_bodies_may_be_is_taken(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        data = apk(padding=1 << 16)
        assert len(data) > SMALL_BODY
        assert upload(client, admin_headers, data).status_code == 201


class TestSignerChange:
    def test_another_key_is_refused_and_the_version_held(
        self, client: TestClient, admin_headers: dict[str, str], database: Database
    ) -> None:
        pinned = uploaded(client, admin_headers, apk(version_code=1))["signer"]
        response = upload(client, admin_headers, apk(version_code=2, signer="rotated"))
        assert response.status_code == 409
        assert error_of(response) == "signer_mismatch"
        detail = response.json()["detail"]
        assert detail["pinned"]["sha256"] == pinned["sha256"]
        assert detail["came"]["sha256"] != pinned["sha256"]
        message = detail["message"]
        assert f"pinned to certificate {pinned['short']} ({pinned['subject']})" in message
        assert f"signed by certificate {detail['came']['short']}" in message
        assert "tabard apps signer accept uk.police.optik" in message

        shown = client.get(f"/api/v1/apps/{PACKAGE}", headers=admin_headers).json()
        assert shown["signer"]["sha256"] == pinned["sha256"]
        assert shown["latest_version_code"] == 1
        assert {v["version_code"]: v["state"] for v in shown["version_list"]} == {
            2: "held",
            1: "available",
        }
        (change,) = shown["signer_changes"]
        assert change["state"] == "pending"
        assert change["version_code"] == 2
        assert change["new_signer"]["sha256"] == detail["came"]["sha256"]
        (refused,) = audit_events(database, "app.upload_refused")
        assert refused.detail["reason"] == "signer_mismatch"

    def test_one_admin_accepts_and_another_approves_then_the_pin_changes(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str], database: Database
    ) -> None:
        uploaded(client, admin_headers, apk(version_code=1))
        held = upload(client, admin_headers, apk(version_code=2, signer="rotated"))
        came = held.json()["detail"]["came"]["sha256"]
        first, second = headers_for(app, "it_admin"), headers_for(app, "it_admin")
        url = f"/api/v1/apps/{PACKAGE}/signer"

        not_yet = client.post(f"{url}/approve", headers=second)
        assert (not_yet.status_code, error_of(not_yet)) == (409, "signer_not_accepted")
        accepted = client.post(f"{url}/accept", headers=first)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["accepted_by"] is not None
        again = client.post(f"{url}/accept", headers=second)
        assert (again.status_code, error_of(again)) == (409, "signer_already_accepted")

        own = client.post(f"{url}/approve", headers=first)
        assert (own.status_code, error_of(own)) == (403, "second_approver_required")
        assert "a different IT administrator must approve it" in own.json()["detail"]
        assert audit_events(database, "app.signer_approval_refused")

        approved = client.post(f"{url}/approve", headers=second)
        assert approved.status_code == 200, approved.text
        assert approved.json()["state"] == "approved"
        shown = client.get(f"/api/v1/apps/{PACKAGE}", headers=admin_headers).json()
        assert shown["signer"]["sha256"] == came
        assert shown["latest_version_code"] == 2
        assert shown["signer_change_pending"] is False
        (event,) = audit_events(database, "app.signer_approved")
        assert event.detail["versions_released"] == [2]
        assert audit_events(database, "app.signer_accepted")

        twice = client.post(f"{url}/approve", headers=second)
        assert (twice.status_code, error_of(twice)) == (409, "no_signer_change_pending")
        # The new key is the pin now: its next version goes straight in.
        assert (
            upload(client, admin_headers, apk(version_code=3, signer="rotated")).status_code == 201
        )
        refused = upload(client, admin_headers, apk(version_code=4))
        assert error_of(refused) == "signer_mismatch"

    def test_accepting_and_approving_need_a_fresh_second_factor(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        uploaded(client, admin_headers, apk(version_code=1))
        upload(client, admin_headers, apk(version_code=2, signer="rotated"))
        admin = create_staff(app, role="it_admin", second_factor=True)
        stale = bearer(app, admin, stepped_up=False)
        for verb in ("accept", "approve"):
            response = client.post(f"/api/v1/apps/{PACKAGE}/signer/{verb}", headers=stale)
            assert (response.status_code, error_of(response)) == (403, "step_up_required")

    def test_a_refused_change_keeps_the_pin_and_refuses_the_held_version(
        self, client: TestClient, admin_headers: dict[str, str], database: Database
    ) -> None:
        pinned = uploaded(client, admin_headers, apk(version_code=1))["signer"]["sha256"]
        upload(client, admin_headers, apk(version_code=2, signer="rotated"))
        refused = client.post(f"/api/v1/apps/{PACKAGE}/signer/refuse", headers=admin_headers)
        assert refused.status_code == 200, refused.text
        assert refused.json()["state"] == "refused"
        shown = client.get(f"/api/v1/apps/{PACKAGE}", headers=admin_headers).json()
        assert shown["signer"]["sha256"] == pinned
        assert {v["version_code"]: v["state"] for v in shown["version_list"]}[2] == "refused"
        assert audit_events(database, "app.signer_refused")

    def test_a_third_key_while_a_change_waits_is_refused_and_not_kept(
        self, client: TestClient, admin_headers: dict[str, str], settings: Settings
    ) -> None:
        uploaded(client, admin_headers, apk(version_code=1))
        upload(client, admin_headers, apk(version_code=2, signer="rotated"))
        third = upload(client, admin_headers, apk(version_code=3, signer="stranger"))
        assert (third.status_code, error_of(third)) == (409, "signer_change_pending")
        assert len(blobs(settings)) == 2  # version 1 and the held version 2
        shown = client.get(f"/api/v1/apps/{PACKAGE}", headers=admin_headers).json()
        assert [v["version_code"] for v in shown["version_list"]] == [2, 1]


class TestReadingAndAccess:
    def test_auditors_read_the_catalogue_but_change_nothing(
        self, app: FastAPI, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        uploaded(client, admin_headers, apk())
        auditor = headers_for(app, "auditor")
        listed = client.get("/api/v1/apps", headers=auditor)
        assert listed.status_code == 200
        assert [a["package"] for a in listed.json()] == [PACKAGE]
        assert client.get(f"/api/v1/apps/{PACKAGE}", headers=auditor).status_code == 200
        assert upload(client, auditor, apk(version_code=2)).status_code == 403
        apk_url = f"/api/v1/apps/{PACKAGE}/versions/1/apk"
        assert client.get(apk_url, headers=auditor).status_code == 403
        refuse = client.post(f"/api/v1/apps/{PACKAGE}/signer/refuse", headers=auditor)
        assert refuse.status_code == 403

    @pytest.mark.parametrize("role", ["supervisor", "officer", "missing_persons", "mash"])
    def test_other_roles_are_refused(self, app: FastAPI, client: TestClient, role: str) -> None:
        headers = headers_for(app, role)
        assert client.get("/api/v1/apps", headers=headers).status_code == 403
        assert client.get(f"/api/v1/apps/{PACKAGE}", headers=headers).status_code == 403
        assert upload(client, headers, apk()).status_code == 403

    def test_staff_download_the_apk_byte_for_byte(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        data = apk(version_code=7)
        uploaded(client, admin_headers, data)
        response = client.get(f"/api/v1/apps/{PACKAGE}/versions/7/apk", headers=admin_headers)
        assert response.status_code == 200
        assert response.content == data
        assert response.headers["content-type"] == APK_TYPE
        missing = client.get(f"/api/v1/apps/{PACKAGE}/versions/8/apk", headers=admin_headers)
        assert (missing.status_code, error_of(missing)) == (404, "app_version_not_found")

    def test_an_apk_gone_from_the_store_is_410_not_a_crash(
        self, client: TestClient, admin_headers: dict[str, str], settings: Settings
    ) -> None:
        uploaded(client, admin_headers, apk(version_code=7))
        for path in blobs(settings):
            path.unlink()
        response = client.get(f"/api/v1/apps/{PACKAGE}/versions/7/apk", headers=admin_headers)
        assert (response.status_code, error_of(response)) == (410, "apk_missing")

    def test_an_unknown_app_is_404_in_words(
        self, client: TestClient, admin_headers: dict[str, str]
    ) -> None:
        response = client.get("/api/v1/apps/uk.police.nothing", headers=admin_headers)
        assert (response.status_code, error_of(response)) == (404, "app_not_found")
        assert "tabard apps list" in response.json()["detail"]
