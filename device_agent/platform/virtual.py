"""The `virtual` backend: the virtual_device model, in process."""

from __future__ import annotations

from typing import Any

from device_agent.platform.base import DeviceFacts, Posture, ScreenLock
from virtual_device import VirtualDevice
from virtual_device.android import FIRST_KNOX_USER

_SECURE_LOCKS = {"pin", "password", "pattern", "biometric"}


class VirtualPlatform:
    """Reads facts and posture straight from a `VirtualDevice`."""

    def __init__(self, device: VirtualDevice) -> None:
        self.device = device
        self.spec = f"virtual:{device.profile_key}"

    def facts(self) -> DeviceFacts:
        device = self.device
        return DeviceFacts(
            serial=device.serial,
            imei=device.imei,
            manufacturer=device.getprop("ro.product.manufacturer"),
            model=device.getprop("ro.product.model"),
            android_version=device.getprop("ro.build.version.release"),
            sdk=int(device.getprop("ro.build.version.sdk")),
            security_patch=device.getprop("ro.build.version.security_patch") or None,
            knox_version=device.knox_version or None,
            warranty_bit=device.warranty_bit,
        )

    def posture(self, *, now: str) -> Posture:
        device = self.device
        facts = self.facts()
        apps = {"personal": device.installed(0)}
        work = device.managed_profile()
        if work is not None:
            apps["work"] = device.installed(work.id)
        return Posture(
            collected_at=now,
            model=facts.model,
            android_version=facts.android_version,
            sdk=facts.sdk,
            security_patch=facts.security_patch,
            knox_version=facts.knox_version,
            warranty_bit=facts.warranty_bit,
            encrypted=device.getprop("ro.crypto.state") == "encrypted",
            screen_lock=ScreenLock(
                secure=device.screen_lock in _SECURE_LOCKS, type=device.screen_lock
            ),
            usb_debugging=device.setting("global", "adb_enabled") == "1",
            developer_options=device.setting("global", "development_settings_enabled") == "1",
            unknown_sources=device.setting("secure", "install_non_market_apps") == "1",
            apps=apps,
            management_mode=_management_mode(device),
        )

    def save(self) -> dict[str, Any]:
        return {"spec": self.spec, "device": self.device.to_dict()}


def _management_mode(device: VirtualDevice) -> str:
    """How the device is managed, in the terms the policy engine judges capability by."""
    work = device.managed_profile()
    if device.device_owner is not None:
        if work is not None and work.id != FIRST_KNOX_USER:
            return "device_owner_work_profile"
        if device.knox_licensed and FIRST_KNOX_USER in device.users:
            return "device_owner_knox_workspace"
        return "device_owner"
    if work is not None and work.id in device.profile_owners:
        return "profile_owner"
    return "unmanaged"
