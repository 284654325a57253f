"""Real APKs: what `build_apk` makes, Debian's `apksigner` and `aapt` accept, and `read_apk`
reads and checks as Android's package manager does."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from virtual_device.apk import build_apk, read_apk, test_signer
from virtual_device.apk.axml import parse

APKSIGNER = shutil.which("apksigner")
AAPT = shutil.which("aapt")
needs_apksigner = pytest.mark.skipif(
    APKSIGNER is None, reason="Debian's apksigner is not installed: apt-get install apksigner"
)
needs_aapt = pytest.mark.skipif(
    AAPT is None, reason="Debian's aapt is not installed: apt-get install aapt"
)
AGENT = "uk.police.tabard.agent"


def _write(tmp_path: Path, data: bytes, name: str = "x.apk") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _apksigner(*args: str) -> subprocess.CompletedProcess[str]:
    assert APKSIGNER is not None
    return subprocess.run(
        [APKSIGNER, *args], capture_output=True, text=True, timeout=120, check=False
    )


class TestBuildApk:
    def test_without_v1_the_same_inputs_give_the_same_bytes(self) -> None:
        # v2 and v3 sign with deterministic ECDSA; v1's PKCS#7 carries a signing time.
        apk = build_apk(AGENT, version_code=2, schemes=("v2", "v3"))
        assert apk == build_apk(AGENT, version_code=2, schemes=("v2", "v3"))

    def test_padding_makes_an_apk_that_large_and_incompressible(self) -> None:
        apk = build_apk(AGENT, padding=2 * 1024 * 1024 + 7)
        assert 2 * 1024 * 1024 + 7 < len(apk) < 2 * 1024 * 1024 + 16 * 1024

    def test_the_manifest_is_compiled_with_android_attributes_by_resource_id(self) -> None:
        import io
        import zipfile

        apk = build_apk(AGENT, version_code=7, version_name="7.1", admin_receivers=(".Admin",))
        manifest = zipfile.ZipFile(io.BytesIO(apk)).read("AndroidManifest.xml")
        assert manifest[:4] == b"\x03\x00\x08\x00"
        root = parse(manifest)
        assert root.get("package", android=False) == AGENT
        assert (root.get("versionCode"), root.get("versionName")) == (7, "7.1")
        (receiver,) = root.iter("receiver")
        assert receiver.get("permission") == "android.permission.BIND_DEVICE_ADMIN"

    def test_test_signers_are_stable_per_name_and_differ_between_names(self) -> None:
        assert test_signer().certificate == test_signer("tabard-test").certificate
        assert test_signer("a") is test_signer("a")
        assert test_signer("a").certificate != test_signer("b").certificate


@needs_apksigner
class TestApksignerAccepts:
    def test_v1_v2_and_v3_all_verify(self, tmp_path: Path) -> None:
        apk = _write(tmp_path, build_apk(AGENT, admin_receivers=(".Admin",)))
        # apksigner checks v1 only for devices older than Android 7, which ignore v2 and v3.
        result = _apksigner(
            "verify", "--verbose", "--print-certs", "--min-sdk-version", "21", str(apk)
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("Verifies")
        for scheme in ("v1 scheme (JAR signing)", "v2 scheme", "v3 scheme"):
            assert re.search(rf"Verified using {re.escape(scheme)}.*: true", result.stdout)
        digest = test_signer().certificate_sha256
        assert f"Signer #1 certificate SHA-256 digest: {digest}" in result.stdout

    def test_a_v1_only_apk_verifies_with_v1_alone(self, tmp_path: Path) -> None:
        apk = _write(tmp_path, build_apk(AGENT, schemes=("v1",)))
        result = _apksigner("verify", "--verbose", str(apk))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Verified using v1 scheme (JAR signing): true" in result.stdout
        assert "Verified using v2 scheme (APK Signature Scheme v2): false" in result.stdout

    def test_a_large_padded_apk_verifies(self, tmp_path: Path) -> None:
        apk = _write(tmp_path, build_apk(AGENT, padding=3 * 1024 * 1024 + 1))
        assert _apksigner("verify", str(apk)).returncode == 0

    def test_another_signer_shows_another_certificate(self, tmp_path: Path) -> None:
        other = test_signer("someone-else")
        apk = _write(tmp_path, build_apk(AGENT, signer=other))
        result = _apksigner("verify", "--print-certs", str(apk))
        assert f"certificate SHA-256 digest: {other.certificate_sha256}" in result.stdout

    def test_a_tampered_apk_does_not_verify(self, tmp_path: Path) -> None:
        data = bytearray(build_apk(AGENT, padding=4096))
        data[200] ^= 0xFF  # inside the stored filler: the zip still reads, the digest does not
        result = _apksigner("verify", str(_write(tmp_path, bytes(data))))
        assert result.returncode != 0


@needs_aapt
class TestAaptReadsTheManifest:
    def test_badging_names_package_versions_and_sdks(self, tmp_path: Path) -> None:
        apk = _write(
            tmp_path,
            build_apk(AGENT, version_code=12, version_name="1.2", min_sdk=25, target_sdk=27),
        )
        assert AAPT is not None
        result = subprocess.run(
            [AAPT, "dump", "badging", str(apk)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert f"package: name='{AGENT}' versionCode='12' versionName='1.2'" in result.stdout
        assert "sdkVersion:'25'" in result.stdout
        assert "targetSdkVersion:'27'" in result.stdout


class TestReadApk:
    def test_reads_what_build_apk_wrote(self) -> None:
        info = read_apk(
            build_apk(AGENT, version_code=4, version_name="4.2", admin_receivers=(".A",))
        )
        assert (info.package, info.version_code, info.version_name) == (AGENT, 4, "4.2")
        assert (info.min_sdk, info.target_sdk) == (24, 28)
        assert info.admin_receivers == (f"{AGENT}.A",)
