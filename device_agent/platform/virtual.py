"""The `virtual` backend: the virtual_device model, in process, as the device policy
controller on the phone would drive it (DevicePolicyManager calls become model changes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from device_agent.errors import UnsupportedError
from device_agent.handover import ENROL_ACTION, ENROLMENT_RECEIVER, Handover, decode
from device_agent.platform.base import (
    DeviceFacts,
    InstallRefusal,
    Posture,
    ScreenLock,
    managed,
)
from device_agent.platform.requirements import Requirement, requirements, unapplied
from device_agent.shell_output import parse_install
from virtual_device import VirtualDevice
from virtual_device.android import FIRST_KNOX_USER
from virtual_device.shell.interpreter import Shell

STAGING = "/data/local/tmp/tabard-install.apk"

_SECURE_LOCKS = {"pin", "password", "pattern", "biometric"}


class VirtualPlatform:
    """Reads and changes a `VirtualDevice` directly."""

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

    def warranty_bit(self) -> int:
        return int(self.device.warranty_bit)

    def posture(self, *, now: str) -> Posture:
        device = self.device
        facts = self.facts()
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
            apps=self.apps(),
            app_versions=self._work_versions(),
            management_mode=_management_mode(device),
        )

    def apps(self) -> dict[str, list[str]]:
        """Packages that can run, per profile (a disabled one cannot)."""
        device = self.device
        users = {"personal": 0, "work": _secure_user(device)}
        return {
            profile: [
                name for name, state in sorted(device.installs[user].items()) if state.enabled
            ]
            for profile, user in users.items()
            if user is not None
        }

    def _work_versions(self) -> dict[str, dict[str, int]]:
        """The managed apps' versionCodes on the secure side, as `pm list packages
        --show-versioncode` or `dumpsys package` would give them."""
        device = self.device
        secure = _secure_user(device)
        if secure is None:
            return {}
        running = [name for name, state in device.installs[secure].items() if state.enabled]
        return {"work": {name: device.packages[name].version_code for name in managed(running)}}

    def app_versions(self) -> dict[str, dict[str, int]]:
        device = self.device
        users = {"personal": 0, "work": _secure_user(device)}
        return {
            profile: {name: device.packages[name].version_code for name in device.installed(user)}
            for profile, user in users.items()
            if user is not None
        }

    # --- changing the device --------------------------------------------------------------
    def install_app(
        self, apk: Path, *, package: str, profile: str, allow_downgrade: bool
    ) -> tuple[InstallRefusal | None, int | None]:
        """As the device policy controller's PackageInstaller session would: the device's own
        package manager checks the APK (its signature, version and minSdk), as `pm` does."""
        user = self._profile_user(profile)
        self.device.fs.write(STAGING, apk.read_bytes(), mode=0o644, mtime=self.device.now())
        flags = "-r -d" if allow_downgrade else "-r"
        try:
            result = Shell(self.device).run(f"pm install {flags} --user {user} {STAGING}")
        finally:
            self.device.fs.remove(STAGING)
        failure = parse_install(result.merged.decode(errors="replace"))
        if failure is not None:
            return InstallRefusal(*failure), None
        return None, self.device.packages[package].version_code

    def remove_app(self, package: str, *, profile: str) -> None:
        if self.device.is_installed(package, user := self._profile_user(profile)):
            self.device.uninstall(package, user_id=user)

    def _profile_user(self, profile: str) -> int:
        return 0 if profile == "personal" else self._require_secure_user()

    def apply_policy(self, policy: dict[str, Any]) -> list[str]:
        return unapplied([wanted for wanted in requirements(policy) if not self._meet(wanted)])

    def _meet(self, wanted: Requirement) -> bool:
        """Carry out one requirement if this device's management allows it."""
        device = self.device
        owner = device.device_owner is not None
        secure = _secure_user(device)
        if wanted.kind == "setting" and owner:
            namespace, key = wanted.name.split("/")
            device.put_setting(namespace, key, str(wanted.value))
            return True
        if wanted.kind == "device_restriction" and owner:
            device.set_device_policy(0, wanted.name, wanted.value)
            return True
        if wanted.kind == "work_restriction" and secure is not None:
            if device.sdk < wanted.min_sdk:
                return False
            device.set_device_policy(secure, wanted.name, wanted.value)
            return True
        if wanted.kind == "disable_app" and owner:
            if device.is_installed(wanted.name, 0):
                device.set_enabled(wanted.name, 0, False)
            return True  # an app that is not there cannot run
        if wanted.kind == "work_app" and secure is not None:
            return device.install_existing(wanted.name, secure)
        if wanted.kind == "remove_work_app":
            if secure is not None and device.is_installed(wanted.name, secure):
                device.uninstall(wanted.name, user_id=secure)
            return True  # no secure side, or not there: nothing of it can run there
        return False

    def lock_device(self) -> None:
        self.device.lock_now()

    def lock_secure_side(self) -> None:
        secure = self._require_secure_user()
        self.device.set_user_running(secure, False)

    def wipe_secure_side(self) -> dict[str, Any]:
        device = self.device
        secure = _secure_user(device)
        if secure is None:
            return {"removed_user": None, "apps": []}
        apps = device.installed(secure)
        device.remove_user(secure)
        return {"removed_user": secure, "apps": apps}

    def factory_reset(self) -> None:
        self.device.factory_reset()

    def clear_clipboard(self) -> None:
        self.device.set_clipboard(None)

    def reset_passcode(self) -> str:
        if self.device.device_owner is None:
            raise UnsupportedError(
                "only a device owner can remove the screen lock; this device has none"
            )
        return self.device.clear_screen_lock()

    def save(self) -> dict[str, Any]:
        return {"spec": self.spec, "device": self.device.to_dict()}

    def close(self) -> None:
        """Nothing is held open: the device is in this process."""

    def handed_over(self) -> Handover | None:
        """The enrolment payload provisioning last handed to the agent's receiver, if any
        (on a phone, the receiver keeps it in the agent's private storage)."""
        for broadcast in reversed(self.device.broadcasts):
            if broadcast.action == ENROL_ACTION and broadcast.component == ENROLMENT_RECEIVER:
                extras = broadcast.extras
                return Handover(
                    payload=decode(extras.get("payload", "")),
                    officer=extras.get("officer"),
                    group=extras.get("group"),
                )
        return None

    def _require_secure_user(self) -> int:
        secure = _secure_user(self.device)
        if secure is None:
            raise UnsupportedError("this device has no secure side (no work profile) to lock")
        return secure


def _secure_user(device: VirtualDevice) -> int | None:
    """The user holding the secure side: the work profile, or a Knox Workspace."""
    work = device.managed_profile()
    if work is not None:
        return work.id
    if device.knox_licensed and FIRST_KNOX_USER in device.users:
        return FIRST_KNOX_USER
    return None


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
