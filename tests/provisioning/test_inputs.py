"""What the host reads of an APK before any device sees it."""

from __future__ import annotations

import io
import logging
import zipfile

import pytest

from provisioning.inputs import read_apk_facts
from virtual_device.apk import build_apk


def _zip_with_manifest(manifest: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("AndroidManifest.xml", manifest)
    return out.getvalue()


class TestReadApkFacts:
    def test_a_compiled_manifest_names_its_package_and_admin_receivers(self) -> None:
        facts = read_apk_facts(build_apk("uk.police.tabard.agent", admin_receivers=(".Admin",)))
        assert facts.package == "uk.police.tabard.agent"
        assert facts.admin_receivers == ("uk.police.tabard.agent.Admin",)

    def test_a_text_manifest_still_reads(self) -> None:
        text = b'<manifest package="uk.police.x"><application/></manifest>'
        assert read_apk_facts(_zip_with_manifest(text)).package == "uk.police.x"

    def test_a_corrupt_compiled_manifest_is_named_and_logs_nothing(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        corrupt = b"\x03\x00\x08\x00\x00\x10\x00\x00\x01\x00\x1c\x00" + b"\xff" * 400
        with pytest.raises(ValueError, match=r"compiled AndroidManifest\.xml cannot be decoded"):
            read_apk_facts(_zip_with_manifest(corrupt))
        assert (root.handlers, root.level) == (handlers, level)
        assert capsys.readouterr().err == ""

    def test_a_manifest_past_the_size_limit_is_refused_unread(self) -> None:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("AndroidManifest.xml", b"\x03\x00\x08\x00" + bytes(5 * 1024 * 1024))
        with pytest.raises(ValueError, match="implausibly large"):
            read_apk_facts(out.getvalue())
