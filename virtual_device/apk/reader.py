"""Reading an APK as Android's package manager does (PackageParser, android-7.1.2 / 9.0)."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
import zlib
from dataclasses import dataclass, replace

from virtual_device.apk import axml, scheme, verify
from virtual_device.apk.jar_verify import verify_v1

# What the zipfile module raises for a corrupt, encrypted or oddly compressed archive.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    EOFError,
    KeyError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    zlib.error,
)
BIND_DEVICE_ADMIN = "android.permission.BIND_DEVICE_ADMIN"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
NOT_APK = "INSTALL_PARSE_FAILED_NOT_APK"
BAD_MANIFEST = "INSTALL_PARSE_FAILED_MANIFEST_MALFORMED"
NO_CERTIFICATES = "INSTALL_PARSE_FAILED_NO_CERTIFICATES"
BAD_PACKAGE_NAME = "INSTALL_PARSE_FAILED_BAD_PACKAGE_NAME"
# PackageParser.validateName: letters, digits and '_', each segment starting with a letter.
_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")


class ApkError(ValueError):
    """The file is not an APK Android would install; `reason` is Android's failure code
    (`INSTALL_PARSE_FAILED_...`) and the message its text."""

    def __init__(self, message: str, *, reason: str = NOT_APK) -> None:
        super().__init__(message)
        self.reason = reason

    def failure(self, path: str) -> str:
        """What `pm install` prints, as PackageParser words it (android-7.1.2 / 9.0)."""
        doing = "collect certificates from" if self.reason == NO_CERTIFICATES else "parse"
        return f"Failure [{self.reason}: Failed to {doing} {path}: {self}]"


@dataclass(frozen=True)
class ApkInfo:
    """What Android reads of an APK: its manifest and the certificate that signed it."""

    package: str
    version_code: int
    admin_receivers: tuple[str, ...]
    version_name: str | None = None
    min_sdk: int = 1
    target_sdk: int = 1
    signer_sha256: str = ""  # the signing certificate's SHA-256, hex
    debuggable: bool = False  # <application android:debuggable="true">


def _manifest(archive: zipfile.ZipFile) -> bytes:
    try:
        if archive.getinfo("AndroidManifest.xml").file_size > MAX_MANIFEST_BYTES:
            raise ApkError("AndroidManifest.xml is implausibly large", reason=NOT_APK)
        return archive.read("AndroidManifest.xml")
    except ApkError:
        raise
    except _ZIP_ERRORS as exc:
        raise ApkError("not a zip holding AndroidManifest.xml", reason=NOT_APK) from exc


def _int(element: axml.Element, name: str, default: int) -> int:
    value = element.get(name)
    if value is None:
        return default
    if isinstance(value, int):
        return value
    try:  # a codename ("O") for minSdkVersion counts as a preview: not installable here
        return int(value)
    except ValueError:
        raise ApkError(f"{name} is not a number: {value}", reason=BAD_MANIFEST) from None


def parse_manifest(manifest: bytes) -> ApkInfo:
    """The package, versions and device-admin receivers a compiled manifest names."""
    try:
        root = axml.parse(manifest)
    except axml.AxmlError as exc:
        raise ApkError(
            f"AndroidManifest.xml is not compiled binary XML: {exc}", reason=NOT_APK
        ) from None
    package = root.get("package", android=False)
    if root.tag != "manifest" or not isinstance(package, str) or not package:
        raise ApkError("<manifest> does not specify package", reason=BAD_MANIFEST)
    if not _PACKAGE.match(package):
        raise ApkError(
            f'<manifest> specifies bad package name "{package}": Java-style segments joined '
            "by at least one '.'",
            reason=BAD_PACKAGE_NAME,
        )
    receivers = []
    for receiver in root.iter("receiver"):
        name = receiver.get("name")
        if receiver.get("permission") == BIND_DEVICE_ADMIN and isinstance(name, str) and name:
            receivers.append(package + name if name.startswith(".") else name)
    uses_sdk = next(iter(root.iter("uses-sdk")), axml.Element("uses-sdk"))
    min_sdk = _int(uses_sdk, "minSdkVersion", 1)
    version_name = root.get("versionName")
    application = next(iter(root.iter("application")), axml.Element("application"))
    debuggable = application.get("debuggable")
    return ApkInfo(
        package=package,
        version_code=_int(root, "versionCode", 0),
        version_name=str(version_name) if version_name is not None else None,
        min_sdk=min_sdk,
        target_sdk=_int(uses_sdk, "targetSdkVersion", min_sdk),
        admin_receivers=tuple(receivers),
        debuggable=debuggable == "true" if isinstance(debuggable, str) else bool(debuggable),
    )


def _signing_certificate(data: bytes, archive: zipfile.ZipFile, sdk: int) -> bytes:
    """The certificate that signed the APK, checked as ApkSignatureVerifier does: v3 (on
    Android 9+), else v2, else v1; each refusing an APK whose newer block was stripped."""
    layout = verify.zip_layout(data)
    pairs = verify.signing_block_pairs(layout.block) if layout.block is not None else {}
    if sdk >= scheme.V3_MIN_SDK and scheme.V3_BLOCK_ID in pairs:
        value = pairs[scheme.V3_BLOCK_ID]
        return verify.verify_scheme_block(data, layout, value, v3=True, sdk=sdk).certificates[0]
    if scheme.V2_BLOCK_ID in pairs:
        value = pairs[scheme.V2_BLOCK_ID]
        signer = verify.verify_scheme_block(data, layout, value, v3=False, sdk=sdk)
        named = signer.attributes.get(scheme.STRIPPING_PROTECTION_ID, b"")
        ids = {int.from_bytes(named[i : i + 4], "little") for i in range(0, len(named) - 3, 4)}
        if sdk >= scheme.V3_MIN_SDK and 3 in ids:
            raise verify.SignatureError("v3 signature stripped: the v2 signer names a v3 block")
        return signer.certificates[0]
    return verify_v1(archive, sdk=sdk)


def read_apk(data: bytes, *, sdk: int = scheme.V3_MIN_SDK) -> ApkInfo:
    """What Android at `sdk` reads of an APK, or `ApkError` with Android's reason for
    refusing it: not a zip with a compiled manifest (`INSTALL_PARSE_FAILED_NOT_APK`), or
    unsigned, tampered with or signed badly (`INSTALL_PARSE_FAILED_NO_CERTIFICATES`)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as exc:
        raise ApkError("not a zip holding AndroidManifest.xml", reason=NOT_APK) from exc
    with archive:
        info = parse_manifest(_manifest(archive))
        try:
            certificate = _signing_certificate(data, archive, sdk)
        except verify.SignatureError as exc:
            raise ApkError(str(exc), reason=NO_CERTIFICATES) from None
        except _ZIP_ERRORS as exc:
            raise ApkError(f"the zip is corrupt: {exc}", reason=NOT_APK) from None
    return replace(info, signer_sha256=hashlib.sha256(certificate).hexdigest())
