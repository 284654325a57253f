"""Ready-made device states for tests, demos and training: each takes a factory-fresh device
and makes it what a real one in that situation would be."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date

from virtual_device.android import (
    DUAL_APP_USER,
    FIRST_KNOX_USER,
    FLAG_INITIALIZED,
    FLAG_MANAGED_PROFILE,
    POLICE_APPS,
    SECURE_FOLDER_USER,
    TABARD_DPC,
    Package,
    UserInfo,
)
from virtual_device.apk import ApkInfo, read_apk, tabard_apks
from virtual_device.fs import Node
from virtual_device.model import VirtualDevice

# Flags of Samsung's extra users as public transcripts show them (unverified on hardware).
SAMSUNG_CONTAINER_FLAGS = FLAG_MANAGED_PROFILE | FLAG_INITIALIZED | 0x1000


def factory_fresh(device: VirtualDevice) -> None:
    """Out of the box, set-up finished with no Google account, USB debugging on."""


def google_account(device: VirtualDevice) -> None:
    """The officer signed in to a Google account: a device owner can no longer be set."""
    device.accounts.append("com.google:officer.personal@gmail.com")


def rooted(device: VirtualDevice) -> None:
    """Rooted with a custom image: the Knox warranty e-fuse is blown and `su` is present."""
    for key in ("ro.boot.warranty_bit", "ro.warranty_bit"):
        device.props[key] = "1"
    device.props["ro.config.tima"] = "0"
    device.fs.nodes["/system/xbin/su"] = Node(mode=0o106755, mtime=1230768000, data=b"\x7fELF")


def secure_folder(device: VirtualDevice) -> None:
    """Samsung Secure Folder set up: an extra user (150) that blocks a device owner."""
    device.add_user(
        UserInfo(
            SECURE_FOLDER_USER, "Secure Folder", SAMSUNG_CONTAINER_FLAGS, running=False, parent=0
        )
    )


def dual_messenger(device: VirtualDevice) -> None:
    """Samsung Dual Messenger in use: an extra user (95) that blocks a device owner."""
    device.add_user(UserInfo(DUAL_APP_USER, "DUAL_APP", SAMSUNG_CONTAINER_FLAGS, parent=0))


def knox_container(device: VirtualDevice) -> None:
    """A Knox 2.x Workspace container (user 100), as a Knox-licensed MDM would have made."""
    device.knox_licensed = True
    device.add_user(UserInfo(FIRST_KNOX_USER, "KNOX", SAMSUNG_CONTAINER_FLAGS, parent=0))


@functools.cache
def _tabard_apks() -> dict[str, tuple[ApkInfo, int]]:
    return {name: (read_apk(apk), len(apk)) for name, apk in tabard_apks().items()}


def _from_apk(name: str) -> Package:
    """A package as installing `tabard virtual-device apks`'s APK for it leaves it."""
    return Package.from_apk(*_tabard_apks()[name])


def managed(device: VirtualDevice) -> None:
    """As Tabard's provisioning leaves it: the agent installed as the device policy
    controller; on Android 8 and later the device owner beside a work profile, on 7.x the
    profile owner of a work profile only (a work profile beside a device owner needs 8.0);
    the police apps in the work profile, which is running."""
    device.install(_from_apk(TABARD_DPC.package), users=[0])
    if device.sdk >= 26:
        device.device_owner = TABARD_DPC
        device.device_owner_name = "Tabard"
    profile = device.create_managed_profile(parent=0, name="Work")
    assert profile is not None, "a factory-fresh device takes a work profile"
    device.install_existing(TABARD_DPC.package, profile.id)
    device.profile_owners[profile.id] = TABARD_DPC
    for name in POLICE_APPS:
        device.install(_from_apk(name), users=[profile.id])
    device.set_user_running(profile.id, True)


def old_patch(device: VirtualDevice) -> None:
    """Never updated: the security patch is the one the model shipped with, years ago."""
    shipped = date.fromisoformat(device.props["ro.build.version.security_patch"])
    device.props["ro.build.version.security_patch"] = date(shipped.year - 1, 1, 1).isoformat()


SCENARIOS: dict[str, Callable[[VirtualDevice], None]] = {
    "factory-fresh": factory_fresh,
    "google-account": google_account,
    "rooted": rooted,
    "secure-folder": secure_folder,
    "dual-messenger": dual_messenger,
    "knox-container": knox_container,
    "old-patch": old_patch,
    "managed": managed,
}


def apply(device: VirtualDevice, name: str) -> VirtualDevice:
    """Put a device into scenario `name`."""
    try:
        SCENARIOS[name](device)
    except KeyError:
        raise KeyError(f"no scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
    return device
