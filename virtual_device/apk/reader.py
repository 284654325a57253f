"""Reading an APK as Android's package manager does (PackageParser, android-7.1.2 / 9.0)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from virtual_device.apk import axml

BIND_DEVICE_ADMIN = "android.permission.BIND_DEVICE_ADMIN"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
NOT_APK = "INSTALL_PARSE_FAILED_NOT_APK"
BAD_MANIFEST = "INSTALL_PARSE_FAILED_MANIFEST_MALFORMED"
NO_CERTIFICATES = "INSTALL_PARSE_FAILED_NO_CERTIFICATES"


class ApkError(ValueError):
    """The file is not an APK Android would install; `reason` is Android's failure code
    (`INSTALL_PARSE_FAILED_...`) and the message its text."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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


def _manifest(data: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if archive.getinfo("AndroidManifest.xml").file_size > MAX_MANIFEST_BYTES:
                raise ApkError(NOT_APK, "AndroidManifest.xml is implausibly large")
            return archive.read("AndroidManifest.xml")
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:
        raise ApkError(NOT_APK, "not a zip holding AndroidManifest.xml") from exc


def _int(element: axml.Element, name: str, default: int) -> int:
    value = element.get(name)
    if value is None:
        return default
    if isinstance(value, int):
        return value
    try:  # a codename ("O") for minSdkVersion counts as a preview: not installable here
        return int(value)
    except ValueError:
        raise ApkError(BAD_MANIFEST, f"{name} is not a number: {value}") from None


def parse_manifest(manifest: bytes) -> ApkInfo:
    """The package, versions and device-admin receivers a compiled manifest names."""
    try:
        root = axml.parse(manifest)
    except axml.AxmlError as exc:
        raise ApkError(NOT_APK, f"AndroidManifest.xml is not compiled binary XML: {exc}") from None
    package = root.get("package", android=False)
    if root.tag != "manifest" or not isinstance(package, str) or not package:
        raise ApkError(BAD_MANIFEST, "<manifest> does not specify package")
    receivers = []
    for receiver in root.iter("receiver"):
        name = receiver.get("name")
        if receiver.get("permission") == BIND_DEVICE_ADMIN and isinstance(name, str) and name:
            receivers.append(package + name if name.startswith(".") else name)
    uses_sdk = next(iter(root.iter("uses-sdk")), axml.Element("uses-sdk"))
    min_sdk = _int(uses_sdk, "minSdkVersion", 1)
    version_name = root.get("versionName")
    return ApkInfo(
        package=package,
        version_code=_int(root, "versionCode", 0),
        version_name=str(version_name) if version_name is not None else None,
        min_sdk=min_sdk,
        target_sdk=_int(uses_sdk, "targetSdkVersion", min_sdk),
        admin_receivers=tuple(receivers),
    )


def read_apk(data: bytes) -> ApkInfo:
    """What Android reads of an APK, or `ApkError` with Android's reason for refusing it."""
    return parse_manifest(_manifest(data))
