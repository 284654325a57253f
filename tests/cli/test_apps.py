"""`tabard apps ...` against a running server: an upload with its progress bar and what it
pinned, the catalogue as a table and as JSON, a signer change accepted by one administrator
and approved by another, and refusals in plain words."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import REPR_MARKS, VALIDATION_DUMP, Live, row_of
from tests.factories.apps import PACKAGE, apk


def apk_file(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


class TestUpload:
    def test_upload_says_what_it_stored_and_that_it_pinned_the_signer(
        self, live: Live, tmp_path: Path
    ) -> None:
        live.login("it_admin")
        first = apk_file(tmp_path, "v1.apk", apk(version_code=1, version_name="1.0.0"))
        said = live.ok("apps", "upload", first, "--label", "OPTIK").stdout
        assert "Uploaded: uk.police.optik version 1 (1.0.0)." in said
        assert "yes: this first upload pinned the signer" in said
        again = live.ok("apps", "upload", first).stdout
        assert "Already in the catalogue (the same bytes)" in again

        second = apk_file(tmp_path, "v2.apk", apk(version_code=2, version_name="1.1.0"))
        stored = live.json("apps", "upload", second)
        assert stored["created"] is True
        assert stored["pinned_signer"] is False
        assert stored["version"]["version_code"] == 2

        listed = live.ok("apps", "list").stdout
        row = row_of(listed, PACKAGE)
        assert "OPTIK" in row
        assert "2 (1.1.0)" in row
        assert stored["signer"]["short"] in row
        (app,) = live.json("apps", "list")
        assert app["versions"] == 2
        shown = live.ok("apps", "show", PACKAGE).stdout
        assert stored["signer"]["sha256"] in shown
        assert stored["version"]["sha256"][:16] in row_of(shown, "1.1.0")

    def test_refusals_are_plain_words(self, live: Live, tmp_path: Path) -> None:
        live.login("it_admin")
        junk = apk_file(tmp_path, "junk.apk", b"this is not an APK")
        said = live.refused("apps", "upload", junk)
        assert "(apk_invalid)" in said
        missing = live.refused("apps", "show", "uk.police.nothing")
        assert "no app 'uk.police.nothing' in the catalogue" in missing
        live.ok("apps", "upload", apk_file(tmp_path, "v1.apk", apk(version_code=1)))
        other = apk_file(tmp_path, "v1b.apk", apk(version_code=1, padding=64))
        clash = live.refused("apps", "upload", other)
        assert "version 1 of uk.police.optik is already in the catalogue" in clash
        for words in (said, missing, clash):
            assert not any(mark in words for mark in REPR_MARKS + VALIDATION_DUMP), words


class TestSignerChange:
    def test_one_admin_accepts_another_approves(self, live: Live, tmp_path: Path) -> None:
        live.login("it_admin")
        live.ok("apps", "upload", apk_file(tmp_path, "v1.apk", apk(version_code=1)))
        rotated = apk_file(tmp_path, "v2.apk", apk(version_code=2, signer="rotated"))
        refused = live.refused("apps", "upload", rotated)
        assert "is pinned to certificate" in refused
        assert "tabard apps signer accept uk.police.optik" in refused
        assert "(signer_mismatch)" in refused
        shown = live.ok("apps", "show", PACKAGE).stdout
        assert "held for a signer change" in row_of(shown, "held")
        assert "not yet accepted: tabard apps signer accept uk.police.optik" in shown

        accepted = live.ok("apps", "signer", "accept", PACKAGE).stdout
        assert "A different IT administrator must approve it" in accepted
        own = live.refused("apps", "signer", "approve", PACKAGE)
        assert "a different IT administrator must approve it" in own

        live.login("it_admin")
        approved = live.json("apps", "signer", "approve", PACKAGE)
        assert approved["state"] == "approved"
        (app,) = live.json("apps", "list")
        assert app["latest_version_code"] == 2
        assert app["signer"]["sha256"] == approved["new_signer"]["sha256"]

    def test_refuse_keeps_the_pin(self, live: Live, tmp_path: Path) -> None:
        live.login("it_admin")
        live.ok("apps", "upload", apk_file(tmp_path, "v1.apk", apk(version_code=1)))
        live.refused(
            "apps", "upload", apk_file(tmp_path, "v2.apk", apk(version_code=2, signer="other"))
        )
        said = live.ok("apps", "signer", "refuse", PACKAGE).stdout
        assert "stays pinned to its signer; version 2 is refused" in said

    def test_auditors_read_but_cannot_upload(self, live: Live, tmp_path: Path) -> None:
        live.login("auditor")
        assert live.json("apps", "list") == []
        said = live.refused("apps", "upload", apk_file(tmp_path, "v1.apk", apk()))
        assert "(forbidden)" in said
