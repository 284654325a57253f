"""The server's reading of an uploaded APK: what its manifest says and who signed it.

The manifest is compiled binary XML, read with apkInspector, which parses zips and binary XML
the way Android does even when they are deliberately malformed; its text rendering is then
read with the standard library.

Signatures: Tabard requires a verified APK Signature Scheme v2 or v3 signature, checked in
`mdm_server.apps.signing` (no maintained Python library verifies these schemes; androguard only
extracts the certificates, and brings IPython and networkx with it). The fleet runs Android 7+,
which checks v2 and ignores the old JAR signature (v1) when v2 is present, so a v1-only APK is
refused; "v1" is reported among the schemes only when a JAR signature block names the same
certificate as the verified v2/v3 signer (its per-file digests are not checked, as Android 7+
does not check them either). Exactly one signer is accepted.
"""

from __future__ import annotations

import io
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import BinaryIO
from xml.etree import ElementTree

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7

from mdm_server.apps import signing
from mdm_server.apps.apkinspector import (
    CentralDirectory,
    CentralDirectoryEntry,
    EndOfCentralDirectoryRecord,
    LocalHeaderRecord,
    axml,
    extract_file_based_on_header_info,
)
from mdm_server.errors import TabardError

MAX_APK_BYTES = 512 * 1024 * 1024
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # real manifests are tens of kilobytes
MAX_SIGNATURE_FILE_BYTES = 1024 * 1024

MANIFEST = "AndroidManifest.xml"
ANDROID = "{http://schemas.android.com/apk/res/android}"
BIND_DEVICE_ADMIN = "android.permission.BIND_DEVICE_ADMIN"
# Android's rule for an application's package name (PackageParser.validateName): two or more
# dot-separated Java identifiers.
PACKAGE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+")
JAR_SIGNATURE_BLOCK = re.compile(r"META-INF/[^/]+\.(RSA|EC|DSA)")

V1_ONLY = (
    "This APK is signed only with the old JAR scheme (v1); sign it with APK Signature Scheme "
    "v2 or later (apksigner does by default)"
)


class ApkInvalidError(TabardError):
    """An uploaded file that is not an APK Tabard accepts; the detail says what to change."""

    status = 422
    code = "apk_invalid"


@dataclass(frozen=True)
class ApkCertificate:
    sha256: str  # lowercase hex SHA-256 of the DER, as `apksigner verify --print-certs` prints
    subject: str  # RFC 4514
    not_after: datetime  # aware, UTC


@dataclass(frozen=True)
class ApkFacts:
    package: str
    version_code: int
    version_name: str  # "" when absent
    min_sdk: int  # 1 when absent, as Android reads it
    target_sdk: int | None
    admin_receivers: tuple[str, ...]  # fully qualified class names
    schemes: tuple[str, ...]  # present and verified, e.g. ("v1", "v2", "v3")
    signer: ApkCertificate  # the verified v3 signer, else the verified v2 signer


@dataclass(frozen=True)
class _Manifest:
    package: str
    version_code: int
    version_name: str
    min_sdk: int
    target_sdk: int | None
    admin_receivers: tuple[str, ...]


def inspect_apk(path: Path, *, max_bytes: int = MAX_APK_BYTES) -> ApkFacts:
    """The facts of the APK at `path`, or `ApkInvalidError` saying why Tabard refuses it."""
    size = path.stat().st_size
    if size > max_bytes:
        raise ApkInvalidError(
            f"This APK is {_mib(size)}; Tabard accepts APKs of up to {_mib(max_bytes)}. "
            "Shrink it (R8, resource shrinking) or split it."
        )
    with path.open("rb") as file:
        try:
            layout = signing.read_zip_layout(file, size)
            entries = _central_directory(file, layout)
            manifest = _parse_manifest(_entry(file, entries, MANIFEST, MAX_MANIFEST_BYTES))
            verified = signing.verify_signatures(file, layout)
        except signing.ApkReadError as exc:
            raise ApkInvalidError(str(exc)) from None
        v1_blocks = [name for name in entries if JAR_SIGNATURE_BLOCK.fullmatch(name)]
        if verified is None:
            raise ApkInvalidError(
                V1_ONLY
                if v1_blocks
                else "This APK is not signed; sign it with apksigner, which signs with APK "
                "Signature Scheme v2 and v3 by default."
            )
        signer = x509.load_der_x509_certificate(verified.certificate)
        v1 = len(v1_blocks) == 1 and signer in _jar_certificates(file, entries, v1_blocks[0])
    return ApkFacts(
        package=manifest.package,
        version_code=manifest.version_code,
        version_name=manifest.version_name,
        min_sdk=manifest.min_sdk,
        target_sdk=manifest.target_sdk,
        admin_receivers=manifest.admin_receivers,
        schemes=(("v1",) if v1 else ()) + verified.schemes,
        signer=ApkCertificate(
            sha256=sha256(verified.certificate).hexdigest(),
            subject=signer.subject.rfc4514_string(),
            not_after=signer.not_valid_after_utc.astimezone(UTC),
        ),
    )


def _mib(size: int) -> str:
    """A size for people: `512 MiB`, `512.1 MiB` (rounded up, so a file just past a limit
    never reads as equal to it), or bytes below 1 MiB."""
    if size < 1024 * 1024:
        return f"{size} bytes"
    tenths = -(-size * 10 // (1024 * 1024))
    return f"{tenths // 10} MiB" if tenths % 10 == 0 else f"{tenths / 10:.1f} MiB"


def _central_directory(
    file: BinaryIO, layout: signing.ZipLayout
) -> dict[str, CentralDirectoryEntry]:
    """The zip's entries by name, as apkInspector reads them."""
    try:
        eocd = EndOfCentralDirectoryRecord.parse(file)
        entries: dict[str, CentralDirectoryEntry] = CentralDirectory.parse(file, eocd).entries
    except Exception:  # the parser meets hostile input: any failure of it is a refusal
        entries, eocd = {}, None
    if eocd is None or eocd.offset_of_start_of_central_directory != layout.cd_offset:
        raise ApkInvalidError(
            "This APK's zip structure is damaged: its central directory cannot be read. "
            "Build it again."
        )
    if len(entries) != layout.cd_entries:
        # Duplicate names collapse into one: Android refuses such an APK.
        raise ApkInvalidError(
            "This APK's zip structure is damaged or ambiguous (an entry name is repeated, or "
            "the entry count is wrong). Build it again."
        )
    return entries


def _entry(
    file: BinaryIO, entries: dict[str, CentralDirectoryEntry], name: str, limit: int
) -> bytes:
    """One entry's content, refused past `limit` bytes before it is inflated."""
    entry = entries.get(name)
    if entry is None:
        raise ApkInvalidError(
            f"This file has no {name}, so it is not an APK. Upload the .apk that the build made."
        )
    damaged = ApkInvalidError(
        f"This APK's {name} cannot be read (its zip entry is damaged); build the APK again."
    )
    try:
        local = LocalHeaderRecord.parse(file, entry)
        if local is None:
            raise damaged
        if max(entry.uncompressed_size, entry.compressed_size, local.compressed_size) > limit:
            raise _too_large(name, limit)
        _refuse_inflating_past(file, entry, local, limit, name)
        data: bytes = extract_file_based_on_header_info(file, local.to_dict(), entry.to_dict())[0]
    except ApkInvalidError:
        raise
    except Exception:  # the parser meets hostile input: any failure of it is a refusal
        raise damaged from None
    return data


def _too_large(name: str, limit: int) -> ApkInvalidError:
    return ApkInvalidError(
        f"This APK's {name} is larger than the {_mib(limit)} Tabard reads, far beyond any real "
        "one; build the APK again with the Android build tools."
    )


def _refuse_inflating_past(
    file: BinaryIO,
    entry: CentralDirectoryEntry,
    local: LocalHeaderRecord,
    limit: int,
    name: str,
) -> None:
    """A deflated entry whose declared sizes are small can still inflate to gigabytes: inflate
    it once with a ceiling before apkInspector inflates it without one."""
    if local.compression_method == 0:
        return
    file.seek(
        entry.relative_offset_of_local_file_header
        + 30
        + local.file_name_length
        + local.extra_field_length
    )
    compressed = file.read(max(entry.compressed_size, local.compressed_size))
    try:
        inflated = zlib.decompressobj(-15).decompress(compressed, limit + 1)
    except zlib.error:
        return  # not deflate: apkInspector reads it as stored, as Android does
    if len(inflated) > limit:
        raise _too_large(name, limit)


def _parse_manifest(compiled: bytes) -> _Manifest:
    """The facts Tabard needs from a compiled AndroidManifest.xml."""
    unreadable = ApkInvalidError(
        "This APK's AndroidManifest.xml cannot be read as compiled binary XML. Build the APK "
        "again with the Android build tools."
    )
    try:
        text = axml.get_manifest(io.BytesIO(compiled))
    except Exception:  # the parser meets hostile input: any failure of it is a refusal
        raise unreadable from None
    try:
        # apkInspector's rendering of binary XML has no DTD or entities to expand, and expat
        # refuses entity-expansion bombs besides.
        root = ElementTree.fromstring(text)  # noqa: S314
    except ElementTree.ParseError:
        raise unreadable from None
    if root.tag != "manifest":
        raise unreadable
    package = root.get("package", "")
    if not package:
        raise ApkInvalidError(
            "This APK's manifest names no package; set the application id (package) and build "
            "it again."
        )
    if not PACKAGE_NAME.fullmatch(package):
        raise ApkInvalidError(
            "This APK's package name is not one Android accepts; give it two or more "
            "dot-separated names, each a letter then letters, digits or underscores."
        )
    uses_sdk = root.find("uses-sdk")
    sdk = uses_sdk if uses_sdk is not None else ElementTree.Element("uses-sdk")
    return _Manifest(
        package=package,
        version_code=_version_code(root),
        version_name=_version_name(root),
        min_sdk=_sdk(sdk, "minSdkVersion") or 1,
        target_sdk=_sdk(sdk, "targetSdkVersion"),
        admin_receivers=_admin_receivers(root, package),
    )


def _integer(text: str) -> int | None:
    """An integer attribute as apkInspector renders it: decimal, or `0x` hex (int-hex)."""
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return None


def _version_code(root: ElementTree.Element) -> int:
    """Android's long version code: versionCodeMajor in the high 32 bits, versionCode below."""
    text = root.get(f"{ANDROID}versionCode")
    code = _integer(text) if text is not None else None
    if code is None:
        raise ApkInvalidError(
            "This APK's manifest has no whole-number versionCode; set versionCode in the build "
            "and build it again."
        )
    major = _integer(root.get(f"{ANDROID}versionCodeMajor", "0")) or 0
    return ((major & 0xFFFFFFFF) << 32) | (code & 0xFFFFFFFF)


def _version_name(root: ElementTree.Element) -> str:
    name = root.get(f"{ANDROID}versionName", "")
    # A resource reference (`@0x7f...` rendered as `@2131...`) needs resources.arsc to
    # resolve: reported as absent rather than as a number.
    return "" if re.fullmatch(r"@\d+", name) else name


def _sdk(uses_sdk: ElementTree.Element, attribute: str) -> int | None:
    text = uses_sdk.get(f"{ANDROID}{attribute}")
    if text is None:
        return None
    level = _integer(text)
    if level is None or level < 1:
        raise ApkInvalidError(
            f"This APK's {attribute} is not an API level (a preview SDK codename?); build it "
            "against a released Android SDK."
        )
    return level


def _admin_receivers(root: ElementTree.Element, package: str) -> tuple[str, ...]:
    """Receivers guarded by BIND_DEVICE_ADMIN, their names resolved as Android resolves them
    (PackageParser.buildClassName): `.Admin` and `Admin` both mean `<package>.Admin`."""
    names = []
    for receiver in root.findall("application/receiver"):
        name = receiver.get(f"{ANDROID}name", "")
        if receiver.get(f"{ANDROID}permission") != BIND_DEVICE_ADMIN or not name:
            continue
        if name.startswith("."):
            name = package + name
        elif "." not in name:
            name = f"{package}.{name}"
        names.append(name)
    return tuple(names)


def _jar_certificates(
    file: BinaryIO, entries: dict[str, CentralDirectoryEntry], name: str
) -> list[x509.Certificate]:
    """The certificates in a JAR signature block (PKCS #7), or none if it cannot be read."""
    try:
        return pkcs7.load_der_pkcs7_certificates(
            _entry(file, entries, name, MAX_SIGNATURE_FILE_BYTES)
        )
    except (ApkInvalidError, ValueError):
        return []
