"""APKs a virtual device can install.

A real APK is a zip whose AndroidManifest.xml is compiled binary XML. A virtual device reads
the same zip, but expects the manifest as plain XML text: enough to name the package, its
version and its device-admin receivers. `build_apk` makes such a file for tests, demos and
provisioning runs; `tabard_apks` makes the set `tabard provision` needs for virtual devices
(`tabard virtual-device apks`)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from xml.etree import ElementTree

ANDROID_NS = "http://schemas.android.com/apk/res/android"
_A = f"{{{ANDROID_NS}}}"
BIND_DEVICE_ADMIN = "android.permission.BIND_DEVICE_ADMIN"


class ApkError(ValueError):
    """The file is not an APK this device can read."""


@dataclass(frozen=True)
class ApkInfo:
    package: str
    version_code: int
    admin_receivers: tuple[str, ...]


def build_apk(
    package: str, *, version_code: int = 1, admin_receivers: tuple[str, ...] = ()
) -> bytes:
    """A small installable APK: a zip with a text manifest and an empty classes.dex."""
    receivers = "".join(
        f'<receiver android:name="{name}" android:permission="{BIND_DEVICE_ADMIN}"/>'
        for name in admin_receivers
    )
    manifest = (
        f'<manifest xmlns:android="{ANDROID_NS}" package="{package}" '
        f'android:versionCode="{version_code}"><application>{receivers}</application></manifest>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("AndroidManifest.xml", manifest)
        archive.writestr("classes.dex", b"dex\n035\0")
    return out.getvalue()


def tabard_apks(extra_packages: tuple[str, ...] = ()) -> dict[str, bytes]:
    """The Tabard agent (with its device-admin receiver `.Admin`, so it can be made device
    and profile owner) and the police apps, by package, as a virtual device accepts them."""
    from virtual_device.scenarios import POLICE_APPS, TABARD_DPC

    agent = TABARD_DPC.package
    admin = TABARD_DPC.cls.removeprefix(agent)
    apks = {agent: build_apk(agent, version_code=1, admin_receivers=(admin,))}
    for package in dict.fromkeys((*POLICE_APPS, *extra_packages)):
        apks[package] = build_apk(package)
    return apks


def read_apk(data: bytes) -> ApkInfo:
    """The package, version and admin receivers of an APK, or `ApkError` saying why not."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            manifest = archive.read("AndroidManifest.xml")
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ApkError("Failed to parse: not an APK (no readable AndroidManifest.xml)") from exc
    try:
        # Only an authenticated ADB host can push an APK, and expat refuses entity-expansion bombs.
        root = ElementTree.fromstring(manifest)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise ApkError("Failed to parse: the manifest is not text XML") from exc
    package = root.get("package", "")
    if not package:
        raise ApkError("Failed to parse: the manifest names no package")
    receivers = []
    for receiver in root.iter("receiver"):
        name = receiver.get(f"{_A}name", "")
        if receiver.get(f"{_A}permission") == BIND_DEVICE_ADMIN and name:
            receivers.append(package + name if name.startswith(".") else name)
    try:
        version = int(root.get(f"{_A}versionCode", "1"))
    except ValueError:
        version = 1
    return ApkInfo(package=package, version_code=version, admin_receivers=tuple(receivers))
