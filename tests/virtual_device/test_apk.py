"""Real APKs: what `build_apk` makes, Debian's `apksigner` and `aapt` accept, and `read_apk`
reads and checks as Android's package manager does."""

from __future__ import annotations

import io
import random
import re
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from virtual_device.apk import ApkError, build_apk, read_apk, test_signer
from virtual_device.apk.axml import parse
from virtual_device.apk.build import FILLER, manifest_xml
from virtual_device.apk.reader import parse_manifest
from virtual_device.apk.signer import self_signed
from virtual_device.apk.verify import zip_layout

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

    def test_an_rsa_signer_verifies(self, tmp_path: Path) -> None:
        signer = self_signed(rsa.generate_private_key(public_exponent=65537, key_size=2048), "r")
        apk = _write(tmp_path, build_apk(AGENT, signer=signer))
        result = _apksigner("verify", "--verbose", "--min-sdk-version", "21", str(apk))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Verified using v1 scheme (JAR signing): true" in result.stdout
        assert "Verified using v3 scheme (APK Signature Scheme v3): true" in result.stdout

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
        assert "application-debuggable" not in result.stdout

    def test_a_debug_build_reads_as_one_to_aapt_and_to_the_device(self, tmp_path: Path) -> None:
        data = build_apk(AGENT, version_code=3, debuggable=True)
        assert AAPT is not None
        result = subprocess.run(
            [AAPT, "dump", "badging", str(_write(tmp_path, data))],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "application-debuggable" in result.stdout.splitlines()
        assert read_apk(data).debuggable is True
        assert read_apk(build_apk(AGENT, version_code=3)).debuggable is False


def _filler_offset(apk: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(apk)) as archive:
        info = archive.getinfo(FILLER)
    name_length, extra_length = struct.unpack_from("<HH", apk, info.header_offset + 26)
    return info.header_offset + 30 + name_length + extra_length


def _without_signing_block(apk: bytes) -> bytes:
    layout = zip_layout(apk)
    eocd = bytearray(apk[layout.eocd_offset :])
    struct.pack_into("<I", eocd, 16, layout.block_offset)
    return apk[: layout.block_offset] + apk[layout.cd_offset : layout.eocd_offset] + bytes(eocd)


def _refusal(data: bytes, *, sdk: int = 28) -> ApkError:
    with pytest.raises(ApkError) as caught:
        read_apk(data, sdk=sdk)
    return caught.value


class TestReadApk:
    def test_reads_what_build_apk_wrote(self) -> None:
        apk = build_apk(AGENT, version_code=4, version_name="4.2", admin_receivers=(".A",))
        info = read_apk(apk)
        assert (info.package, info.version_code, info.version_name) == (AGENT, 4, "4.2")
        assert (info.min_sdk, info.target_sdk) == (24, 28)
        assert info.admin_receivers == (f"{AGENT}.A",)
        assert info.signer_sha256 == test_signer().certificate_sha256

    @pytest.mark.parametrize(
        "schemes", [("v1",), ("v2",), ("v1", "v2"), ("v2", "v3"), ("v1", "v2", "v3")]
    )
    @pytest.mark.parametrize("sdk", [24, 25, 27, 28])
    def test_every_scheme_android_knows_gives_the_signer(
        self, schemes: tuple[str, ...], sdk: int
    ) -> None:
        other = test_signer("another")
        info = read_apk(build_apk(AGENT, schemes=schemes, signer=other), sdk=sdk)
        assert info.signer_sha256 == other.certificate_sha256

    def test_a_v3_only_apk_has_no_certificates_before_android_9(self) -> None:
        apk = build_apk(AGENT, schemes=("v3",))
        assert read_apk(apk, sdk=28).signer_sha256 == test_signer().certificate_sha256
        assert _refusal(apk, sdk=27).reason == "INSTALL_PARSE_FAILED_NO_CERTIFICATES"

    @pytest.mark.parametrize("schemes", [("v2",), ("v3",), ("v1", "v2", "v3")])
    def test_a_changed_byte_in_the_contents_is_refused(self, schemes: tuple[str, ...]) -> None:
        apk = bytearray(build_apk(AGENT, schemes=schemes, padding=4096))
        apk[_filler_offset(bytes(apk)) + 100] ^= 0x01
        error = _refusal(bytes(apk))
        assert error.reason == "INSTALL_PARSE_FAILED_NO_CERTIFICATES"
        assert "content digest mismatch" in str(error)

    def test_a_v1_only_apk_with_a_changed_entry_is_refused(self) -> None:
        apk = bytearray(build_apk(AGENT, schemes=("v1",), padding=4096))
        apk[_filler_offset(bytes(apk)) + 100] ^= 0x01
        assert _refusal(bytes(apk)).reason in (
            "INSTALL_PARSE_FAILED_NO_CERTIFICATES",
            "INSTALL_PARSE_FAILED_NOT_APK",  # the zip's CRC catches it first
        )

    def test_an_unsigned_apk_has_no_certificates(self) -> None:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("AndroidManifest.xml", manifest_xml_for(AGENT))
        error = _refusal(out.getvalue())
        assert error.failure("/data/local/tmp/x.apk").startswith(
            "Failure [INSTALL_PARSE_FAILED_NO_CERTIFICATES: Failed to collect certificates "
            "from /data/local/tmp/x.apk: "
        )

    def test_stripping_the_v2_and_v3_block_is_noticed_from_v1(self) -> None:
        stripped = _without_signing_block(build_apk(AGENT))
        assert "stripped" in str(_refusal(stripped, sdk=24))

    def test_a_signing_block_taken_from_another_apk_is_refused(self) -> None:
        ours = build_apk(AGENT, version_code=2, schemes=("v2",))
        theirs = build_apk(AGENT, version_code=1, schemes=("v2",), signer=test_signer("mallory"))
        layout = zip_layout(ours)
        their_layout = zip_layout(theirs)
        assert their_layout.block is not None and layout.block is not None
        spliced = bytearray(
            ours[: layout.block_offset] + their_layout.block + ours[layout.cd_offset :]
        )
        struct.pack_into(
            "<I", spliced, len(spliced) - 6, layout.block_offset + len(their_layout.block)
        )
        spliced = bytes(spliced)
        assert _refusal(spliced).reason == "INSTALL_PARSE_FAILED_NO_CERTIFICATES"

    @pytest.mark.parametrize("schemes", [("v1",), ("v1", "v2", "v3")])
    def test_any_corruption_is_refused_with_an_android_reason_never_a_crash(
        self, schemes: tuple[str, ...]
    ) -> None:
        apk = build_apk(AGENT, admin_receivers=(".Admin",), schemes=schemes)
        rng = random.Random(5)
        reasons = set()
        for _ in range(1000):
            damaged = bytearray(apk)
            for _ in range(rng.randint(1, 4)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            try:
                read_apk(bytes(damaged))
            except ApkError as error:
                reasons.add(error.reason)
        assert reasons <= {
            "INSTALL_PARSE_FAILED_NOT_APK",
            "INSTALL_PARSE_FAILED_NO_CERTIFICATES",
            "INSTALL_PARSE_FAILED_MANIFEST_MALFORMED",
            "INSTALL_PARSE_FAILED_BAD_PACKAGE_NAME",
        }

    def test_an_rsa_signed_apk_reads_with_its_certificate(self) -> None:
        signer = self_signed(rsa.generate_private_key(public_exponent=65537, key_size=2048), "r")
        for schemes in (("v1",), ("v2",), ("v3",)):
            info = read_apk(build_apk(AGENT, signer=signer, schemes=schemes))
            assert info.signer_sha256 == signer.certificate_sha256

    def test_a_bad_package_name_is_refused(self) -> None:
        assert _refusal(build_apk("nodots")).reason == "INSTALL_PARSE_FAILED_BAD_PACKAGE_NAME"

    def test_a_damaged_v1_signature_block_is_no_certificates_never_a_crash(self) -> None:
        with zipfile.ZipFile(io.BytesIO(build_apk(AGENT, schemes=("v1",)))) as archive:
            entries = {info.filename: archive.read(info) for info in archive.infolist()}
        rng = random.Random(7)
        reasons: list[str] = []
        for _ in range(300):
            block = bytearray(entries["META-INF/CERT.EC"])
            for _ in range(rng.randint(1, 3)):
                block[rng.randrange(len(block))] = rng.randrange(256)
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w") as archive:
                for name, data in entries.items():
                    archive.writestr(name, bytes(block) if name.endswith(".EC") else data)
            try:
                read_apk(out.getvalue())
            except ApkError as error:
                reasons.append(error.reason)
        # Android does not check the certificate's own signature or dates, so a change there
        # passes; anything else is refused, and nothing escapes as another exception.
        assert set(reasons) == {"INSTALL_PARSE_FAILED_NO_CERTIFICATES"}
        assert len(reasons) > 250

    def test_a_damaged_compiled_manifest_is_refused_never_a_crash(self) -> None:
        manifest = manifest_xml_for(AGENT)
        rng = random.Random(9)
        for _ in range(2000):
            damaged = bytearray(manifest)
            for _ in range(rng.randint(1, 4)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            try:
                parse_manifest(bytes(damaged))
            except ApkError as error:
                assert error.reason.startswith("INSTALL_PARSE_FAILED_")  # noqa: PT017

    def test_a_text_manifest_is_not_an_apk(self) -> None:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("AndroidManifest.xml", f'<manifest package="{AGENT}"/>')
        assert _refusal(out.getvalue()).reason == "INSTALL_PARSE_FAILED_NOT_APK"

    def test_not_a_zip_is_not_an_apk(self) -> None:
        error = _refusal(b"PK\x03\x04 not really")
        assert error.failure("/data/local/tmp/x.apk").startswith(
            "Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed to parse /data/local/tmp/x.apk: "
        )

    def test_a_utf8_string_pool_reads_the_same(self) -> None:
        manifest = manifest_xml(
            AGENT,
            version_code=3,
            version_name="3.0-ü",
            min_sdk=24,
            target_sdk=28,
            admin_receivers=(".Admin",),
            utf8=True,
        )
        root = parse(manifest)
        assert root.get("versionName") == "3.0-ü"
        assert root.iter("receiver")[0].get("name") == ".Admin"


def manifest_xml_for(package: str) -> bytes:
    return manifest_xml(
        package, version_code=1, version_name="1", min_sdk=24, target_sdk=28, admin_receivers=()
    )
