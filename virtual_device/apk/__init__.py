"""Real APKs for virtual devices: `build_apk` makes signed APKs (compiled manifest, v1, v2 and
v3 signatures) that `apksigner verify` and `aapt dump badging` accept; `read_apk` reads and
checks one as Android's package manager does; `tabard_apks` makes the set `tabard provision`
needs for virtual devices (`tabard virtual-device apks`)."""

from __future__ import annotations

from virtual_device.android import POLICE_APPS, TABARD_DPC
from virtual_device.apk.build import build_apk
from virtual_device.apk.reader import ApkError, ApkInfo, read_apk
from virtual_device.apk.signer import ApkSigner, test_signer

__all__ = [
    "ApkError",
    "ApkInfo",
    "ApkSigner",
    "build_apk",
    "read_apk",
    "tabard_apks",
    "test_signer",
]


def tabard_apks(extra_packages: tuple[str, ...] = ()) -> dict[str, bytes]:
    """The Tabard agent (with its device-admin receiver `.Admin`, so it can be made device
    and profile owner) and the police apps, by package, signed with the test key."""
    agent = TABARD_DPC.package
    admin = TABARD_DPC.cls.removeprefix(agent)
    apks = {agent: build_apk(agent, version_code=1, admin_receivers=(admin,))}
    for package in dict.fromkeys((*POLICE_APPS, *extra_packages)):
        apks[package] = build_apk(package)
    return apks
