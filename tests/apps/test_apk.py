"""Reading an uploaded APK: its manifest's facts and its one verified v2/v3 signer, checked
against APKs signed by Debian's apksigner, by the virtual-device builder and by signing blocks
written in the tests; and every refusal, each in words that say what to do."""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdm_server.apps.apk import V1_ONLY, ApkInvalidError, inspect_apk
from mdm_server.apps.signing import CHUNK_BYTES
from tests.factories.apps import (
    PACKAGE,
    Signing,
    compiled,
    entry_data_offset,
    flipped,
    key,
    manifest,
    sign,
    unsigned_apk,
    zip_of,
)
from virtual_device.apk import axml, build_apk, test_signer
from virtual_device.apk.axml import Node

APKSIGNER = shutil.which("apksigner")
needs_apksigner = pytest.mark.skipif(
    APKSIGNER is None,
    reason="Debian's apksigner is not installed (apt-get install apksigner): the independent "
    "signer these tests check against",
)


def written(tmp_path: Path, data: bytes, name: str = "app.apk") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refusal(path: Path, **kwargs: int) -> str:
    with pytest.raises(ApkInvalidError) as caught:
        inspect_apk(path, **kwargs)
    detail = caught.value.detail
    assert isinstance(detail, str)
    assert not re.search(r"[\[{]'|\bb'|Error\(|Traceback", detail), detail  # no reprs
    return detail


class TestApkInvalidError:
    def test_is_a_422_with_its_own_code(self) -> None:
        error = ApkInvalidError("This APK is not signed.")
        assert (error.status, error.error_code, error.detail) == (
            422,
            "apk_invalid",
            "This APK is not signed.",
        )


class TestSignedByApksigner:
    """The independent check: apksigner signs, inspect_apk must agree with what apksigner
    verifies and prints."""

    def _signed(self, tmp_path: Path, signer_kind: str, *, filler: int = 0) -> Path:
        assert APKSIGNER is not None
        unsigned = written(
            tmp_path,
            unsigned_apk(
                manifest(
                    version_code=42,
                    version_name="4.2.0",
                    min_sdk=24,
                    target_sdk=28,
                    admin_receivers=(".Admin",),
                ),
                filler=filler,
            ),
            "unsigned.apk",
        )
        pk8, pem = key(signer_kind).files(tmp_path)
        out = tmp_path / "signed.apk"
        subprocess.run(
            [
                APKSIGNER,
                "sign",
                "--key",
                str(pk8),
                "--cert",
                str(pem),
                "--min-sdk-version",
                "24",
                "--v1-signing-enabled",
                "true",
                "--v2-signing-enabled",
                "true",
                "--v3-signing-enabled",
                "true",
                "--in",
                str(unsigned),
                "--out",
                str(out),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return out

    def _printed_sha256(self, path: Path) -> str:
        assert APKSIGNER is not None
        printed = subprocess.run(
            [APKSIGNER, "verify", "--print-certs", str(path)],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        found = re.search(r"Signer #1 certificate SHA-256 digest: ([0-9a-f]{64})", printed)
        assert found, printed
        return found.group(1)

    @needs_apksigner
    @pytest.mark.parametrize("signer_kind", ["ec256", "ec384", "rsa2048", "rsa4096"])
    def test_reads_the_facts_and_the_certificate_apksigner_prints(
        self, tmp_path: Path, signer_kind: str
    ) -> None:
        # P-384 and RSA 4096 make apksigner sign with SHA-512 (0x0202, 0x0104).
        path = self._signed(tmp_path, signer_kind)
        facts = inspect_apk(path)
        assert facts.package == PACKAGE
        assert (facts.version_code, facts.version_name) == (42, "4.2.0")
        assert (facts.min_sdk, facts.target_sdk) == (24, 28)
        assert facts.admin_receivers == (f"{PACKAGE}.Admin",)
        assert facts.schemes == ("v1", "v2", "v3")
        assert facts.signer.sha256 == self._printed_sha256(path) == key(signer_kind).sha256
        assert facts.signer.subject == "O=Example Police,CN=Tabard test signer"
        assert facts.signer.not_after == datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)

    @needs_apksigner
    def test_digests_content_spanning_several_chunks(self, tmp_path: Path) -> None:
        path = self._signed(tmp_path, "ec256", filler=2 * CHUNK_BYTES + 12345)
        assert inspect_apk(path).signer.sha256 == self._printed_sha256(path)

    @needs_apksigner
    def test_refuses_an_apksigner_apk_with_one_entry_byte_changed(self, tmp_path: Path) -> None:
        path = self._signed(tmp_path, "ec256", filler=5000)
        data = path.read_bytes()
        path.write_bytes(flipped(data, entry_data_offset(data, "assets/filler.bin") + 100))
        assert "changed after it was signed" in refusal(path)

    @needs_apksigner
    @pytest.mark.filterwarnings("ignore:DSA is deprecated")
    @pytest.mark.parametrize(
        ("signer_kind", "algorithm"),
        [
            ("rsa2048", 0x0103),
            ("rsa2048", 0x0104),
            ("ec256", 0x0201),
            ("ec256", 0x0202),
            ("dsa", 0x0301),
        ],
    )
    def test_the_test_signing_blocks_are_ones_apksigner_verifies(
        self, tmp_path: Path, signer_kind: str, algorithm: int
    ) -> None:
        # So that each refusal test below changes one thing in an otherwise valid block. (RSA-PSS
        # is left out: the JDK under Debian's apksigner has no "SHA256withRSA/PSS".)
        assert APKSIGNER is not None
        signing = Signing(key(signer_kind), algorithm)
        path = written(tmp_path, sign(unsigned_apk(), v2=[signing], v3=[signing]))
        verify = [APKSIGNER, "verify", "--min-sdk-version", "24", str(path)]
        subprocess.run(verify, check=True, capture_output=True, timeout=120)


class TestBuiltApks:
    """APKs from the virtual-device builder, whose manifests vary as the tests need."""

    def test_reads_what_the_builder_wrote(self, tmp_path: Path) -> None:
        apk = build_apk(
            "uk.police.records",
            version_code=310,
            version_name="3.1",
            min_sdk=25,
            target_sdk=27,
            admin_receivers=(".Admin", "uk.police.records.device.Owner", "Bare"),
        )
        facts = inspect_apk(written(tmp_path, apk))
        assert (facts.package, facts.version_code, facts.version_name) == (
            "uk.police.records",
            310,
            "3.1",
        )
        assert (facts.min_sdk, facts.target_sdk) == (25, 27)
        assert facts.admin_receivers == (
            "uk.police.records.Admin",
            "uk.police.records.device.Owner",
            "uk.police.records.Bare",
        )
        assert facts.schemes == ("v1", "v2", "v3")
        assert facts.signer.sha256 == test_signer().certificate_sha256

    @pytest.mark.parametrize(
        "schemes", [("v2",), ("v3",), ("v2", "v3"), ("v1", "v2"), ("v1", "v3")]
    )
    def test_reports_the_schemes_present(self, tmp_path: Path, schemes: tuple[str, ...]) -> None:
        facts = inspect_apk(written(tmp_path, build_apk(PACKAGE, schemes=schemes)))
        assert facts.schemes == schemes

    def test_reads_a_large_apk_in_chunks(self, tmp_path: Path) -> None:
        apk = build_apk(PACKAGE, padding=3 * CHUNK_BYTES + 1)
        assert inspect_apk(written(tmp_path, apk)).schemes == ("v1", "v2", "v3")

    def test_leaves_out_v1_when_the_jar_signature_names_another_certificate(
        self, tmp_path: Path
    ) -> None:
        jar_only = build_apk(PACKAGE, signer=test_signer("someone else"), schemes=("v1",))
        apk = sign(jar_only, v2=[Signing(key())], v3=[Signing(key())])
        facts = inspect_apk(written(tmp_path, apk))
        assert facts.schemes == ("v2", "v3")
        assert facts.signer.sha256 == key().sha256

    def test_takes_absent_sdk_levels_and_version_name_as_android_does(self, tmp_path: Path) -> None:
        bare = compiled((("versionCode", 9),))
        facts = inspect_apk(written(tmp_path, sign(unsigned_apk(bare), v2=[Signing(key())])))
        assert (facts.version_name, facts.min_sdk, facts.target_sdk) == ("", 1, None)

    def test_puts_version_code_major_in_the_high_bits(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # android.R.attr.versionCodeMajor (API 28), which the builder has no use for.
        monkeypatch.setitem(axml.ATTRIBUTE_IDS, "versionCodeMajor", 0x01010576)
        major = compiled((("versionCode", 5), ("versionCodeMajor", 2)))
        facts = inspect_apk(written(tmp_path, sign(unsigned_apk(major), v3=[Signing(key())])))
        assert facts.version_code == (2 << 32) | 5

    def test_counts_only_receivers_guarded_by_bind_device_admin(self, tmp_path: Path) -> None:
        receivers = (
            Node(
                "receiver",
                android=(
                    ("name", ".Admin"),
                    ("permission", "android.permission.BIND_DEVICE_ADMIN"),
                ),
            ),
            Node("receiver", android=(("name", ".BootReceiver"),)),
        )
        document = compiled(
            (("versionCode", 1),), children=(Node("application", children=receivers),)
        )
        facts = inspect_apk(written(tmp_path, sign(unsigned_apk(document), v2=[Signing(key())])))
        assert facts.admin_receivers == (f"{PACKAGE}.Admin",)


class TestSignatureAlgorithms:
    @pytest.mark.parametrize(
        ("signer_kind", "algorithm"),
        [
            ("rsa2048", 0x0101),
            ("rsa2048", 0x0102),
            ("rsa2048", 0x0103),
            ("rsa2048", 0x0104),
            ("ec256", 0x0201),
            ("ec256", 0x0202),
            pytest.param(
                "dsa",
                0x0301,
                marks=pytest.mark.filterwarnings("ignore:DSA is deprecated"),
            ),
        ],
    )
    def test_verifies_every_algorithm_android_knows(
        self, tmp_path: Path, signer_kind: str, algorithm: int
    ) -> None:
        signing = Signing(key(signer_kind), algorithm)
        facts = inspect_apk(written(tmp_path, sign(unsigned_apk(), v2=[signing], v3=[signing])))
        assert facts.schemes == ("v2", "v3")
        assert facts.signer.sha256 == key(signer_kind).sha256

    def test_refuses_a_key_of_another_type_than_its_algorithm(self, tmp_path: Path) -> None:
        # An EC key whose signature claims to be RSA PKCS#1 v1.5.
        apk = sign(unsigned_apk(), v2=[Signing(key("ec256"), 0x0103)])
        assert "v2 signature does not verify" in refusal(written(tmp_path, apk))

    def test_refuses_a_signature_in_no_algorithm_android_knows(self, tmp_path: Path) -> None:
        apk = sign(unsigned_apk(), v2=[Signing(key(), 0x0999)])
        assert "no algorithm Android verifies" in refusal(written(tmp_path, apk))


class TestRefusals:
    def test_refuses_a_file_that_is_not_a_zip(self, tmp_path: Path) -> None:
        detail = refusal(written(tmp_path, b"%PDF-1.7\n" + bytes(200)))
        assert detail == "This file is not an APK: it is not a zip archive. Upload the .apk file."

    def test_refuses_an_empty_file(self, tmp_path: Path) -> None:
        assert "it is not a zip archive" in refusal(written(tmp_path, b""))

    def test_refuses_a_zip_without_a_manifest(self, tmp_path: Path) -> None:
        detail = refusal(written(tmp_path, zip_of([("classes.dex", b"dex\n035\0")])))
        assert "no AndroidManifest.xml" in detail

    def test_refuses_a_text_manifest(self, tmp_path: Path) -> None:
        text = b'<manifest package="uk.police.optik" android:versionCode="1"/>'
        detail = refusal(written(tmp_path, unsigned_apk(text)))
        assert "cannot be read as compiled binary XML" in detail

    def test_refuses_a_manifest_without_a_package(self, tmp_path: Path) -> None:
        apk = sign(unsigned_apk(compiled((("versionCode", 1),), plain=())), v2=[Signing(key())])
        assert "names no package" in refusal(written(tmp_path, apk))

    def test_refuses_a_package_name_android_would_not_accept(self, tmp_path: Path) -> None:
        document = compiled((("versionCode", 1),), plain=(("package", "../../etc"),))
        apk = sign(unsigned_apk(document), v2=[Signing(key())])
        assert "package name is not one Android accepts" in refusal(written(tmp_path, apk))

    def test_refuses_a_manifest_without_a_version_code(self, tmp_path: Path) -> None:
        apk = sign(unsigned_apk(compiled((("versionName", "1.0"),))), v2=[Signing(key())])
        assert "no whole-number versionCode" in refusal(written(tmp_path, apk))

    def test_refuses_a_version_code_that_is_not_an_integer(self, tmp_path: Path) -> None:
        apk = sign(unsigned_apk(compiled((("versionCode", "one"),))), v2=[Signing(key())])
        assert "no whole-number versionCode" in refusal(written(tmp_path, apk))

    def test_refuses_an_sdk_level_that_is_a_codename(self, tmp_path: Path) -> None:
        sdk = Node("uses-sdk", android=(("minSdkVersion", "Q"),))
        document = compiled((("versionCode", 1),), children=(sdk,))
        apk = sign(unsigned_apk(document), v2=[Signing(key())])
        assert "minSdkVersion is not an API level" in refusal(written(tmp_path, apk))

    def test_refuses_an_unsigned_apk(self, tmp_path: Path) -> None:
        assert "This APK is not signed" in refusal(written(tmp_path, unsigned_apk()))

    def test_refuses_an_apk_signed_only_with_v1(self, tmp_path: Path) -> None:
        apk = build_apk(PACKAGE, schemes=("v1",))
        assert refusal(written(tmp_path, apk)) == V1_ONLY
        assert V1_ONLY == (
            "This APK is signed only with the old JAR scheme (v1); sign it with APK Signature "
            "Scheme v2 or later (apksigner does by default)"
        )

    def test_refuses_a_signature_over_altered_signed_data(self, tmp_path: Path) -> None:
        apk = build_apk(PACKAGE, schemes=("v2",))
        # The certificate sits inside the signed data: change a byte of its signature.
        at = apk.index(test_signer().certificate) + len(test_signer().certificate) - 5
        assert "v2 signature does not verify" in refusal(written(tmp_path, flipped(apk, at)))

    @pytest.mark.parametrize("schemes", [("v2",), ("v3",), ("v1", "v2", "v3")])
    def test_refuses_an_entry_changed_after_signing(
        self, tmp_path: Path, schemes: tuple[str, ...]
    ) -> None:
        apk = build_apk(PACKAGE, schemes=schemes, padding=4096)
        tampered = flipped(apk, entry_data_offset(apk, "assets/filler.bin") + 2000)
        detail = refusal(written(tmp_path, tampered))
        assert "contents do not match" in detail and "changed after it was signed" in detail

    def test_refuses_a_certificate_for_another_key(self, tmp_path: Path) -> None:
        liar = Signing(key(), certificate=key("ec256", "Someone else").certificate)
        apk = sign(unsigned_apk(), v2=[liar])
        assert "certificate is for a different key" in refusal(written(tmp_path, apk))

    def test_refuses_v2_and_v3_by_different_signers(self, tmp_path: Path) -> None:
        other = key("ec256", "Someone else")
        apk = sign(unsigned_apk(), v2=[Signing(key())], v3=[Signing(other)])
        assert "v2 and v3 signatures name different signers" in refusal(written(tmp_path, apk))

    def test_refuses_more_than_one_signer(self, tmp_path: Path) -> None:
        other = key("ec256", "Someone else")
        apk = sign(unsigned_apk(), v2=[Signing(key()), Signing(other)])
        detail = refusal(written(tmp_path, apk))
        assert "2 signers; Tabard accepts APKs with exactly one signer" in detail

    def test_refuses_an_apk_whose_v3_signature_was_stripped(self, tmp_path: Path) -> None:
        apk = sign(unsigned_apk(), v2=[Signing(key())], v2_says_v3=True)
        assert "v3 signature was removed" in refusal(written(tmp_path, apk))

    def test_refuses_a_file_over_the_size_limit(self, tmp_path: Path) -> None:
        path = written(tmp_path, build_apk(PACKAGE, padding=2 * CHUNK_BYTES))
        detail = refusal(path, max_bytes=CHUNK_BYTES)
        assert detail.startswith("This APK is 2.1 MiB; Tabard accepts APKs of up to 1 MiB.")

    def test_refuses_repeated_entry_names(self, tmp_path: Path) -> None:
        with pytest.warns(UserWarning, match="Duplicate name"):
            twice = zip_of([("AndroidManifest.xml", manifest()), ("AndroidManifest.xml", b"x")])
        assert "an entry name is repeated" in refusal(written(tmp_path, twice))

    def test_refuses_a_manifest_that_inflates_past_its_limit(self, tmp_path: Path) -> None:
        bomb = manifest() + bytes(5 * CHUNK_BYTES)
        assert "AndroidManifest.xml is larger than the 4 MiB Tabard reads" in refusal(
            written(tmp_path, unsigned_apk(bomb))
        )

    def test_refuses_a_manifest_that_inflates_past_what_its_sizes_declare(
        self, tmp_path: Path
    ) -> None:
        apk = bytearray(unsigned_apk(manifest() + bytes(5 * CHUNK_BYTES)))
        info = zipfile.ZipFile(io.BytesIO(bytes(apk))).getinfo("AndroidManifest.xml")
        # Declare 1000 bytes uncompressed, in the local header and in the central directory.
        struct.pack_into("<I", apk, info.header_offset + 22, 1000)
        struct.pack_into("<I", apk, apk.index(b"PK\x01\x02") + 24, 1000)
        detail = refusal(written(tmp_path, bytes(apk)))
        assert "AndroidManifest.xml is larger than the 4 MiB Tabard reads" in detail

    def test_refuses_a_signing_block_whose_sizes_disagree(self, tmp_path: Path) -> None:
        apk = build_apk(PACKAGE, schemes=("v2",))
        block_end = apk.index(b"APK Sig Block 42")
        (size,) = (int.from_bytes(apk[block_end - 8 : block_end], "little"),)
        start = block_end + 16 - size - 8
        broken = flipped(apk, start)
        assert "two size fields disagree" in refusal(written(tmp_path, broken))


class TestHostileBytes:
    """Whatever bytes arrive, the answer is the APK's own facts or a refusal, never a crash
    and never another signer."""

    APK = build_apk(PACKAGE, admin_receivers=(".Admin",), padding=64)

    @settings(
        max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(at=st.integers(0, len(APK) - 1), value=st.integers(0, 255))
    def test_a_changed_byte_is_refused_or_changes_nothing_signed(
        self, tmp_path: Path, at: int, value: int
    ) -> None:
        changed = bytearray(self.APK)
        changed[at] = value
        path = written(tmp_path, bytes(changed))
        try:
            facts = inspect_apk(path)
        except ApkInvalidError:
            return
        assert facts.package == PACKAGE
        assert facts.signer.sha256 == test_signer().certificate_sha256

    @settings(
        max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(length=st.integers(0, len(APK) - 1))
    def test_a_cut_short_file_is_refused(self, tmp_path: Path, length: int) -> None:
        with pytest.raises(ApkInvalidError):
            inspect_apk(written(tmp_path, self.APK[:length]))


def test_reading_apks_leaves_the_processes_logging_alone(tmp_path: Path) -> None:
    """apkInspector configures the root logger at DEBUG when imported; Tabard must not let it,
    or every command (`tabard db upgrade` among them) prints libraries' debug lines."""
    probe = (
        "import logging; import mdm_server.apps.apk; root = logging.getLogger(); "
        "print(root.level, len(root.handlers))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert shown.stdout.split() == [str(logging.WARNING), "0"]
    upgraded = subprocess.run(
        [sys.executable, "-m", "tabard", "db", "upgrade"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TABARD_DATA_DIR": str(tmp_path / "data")},
        check=True,
    )
    assert "DEBUG" not in upgraded.stderr and "Running upgrade" not in upgraded.stderr
