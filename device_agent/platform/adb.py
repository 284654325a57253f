"""The `adb` backend: a real or virtual device over ADB (adb-shell), with what the shell of
Android 7 to 9 can do (../shared/reference/android-adb.md). Output is judged by its text.

The shell is not the device policy controller: DevicePolicyManager restrictions, a factory
reset (`wipeData`) and the clipboard are out of its reach, and turning off USB debugging or
developer options would cut the very link the backend runs on. Those are reported as not
applied, or refused with the reason, never pretended."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from device_agent.adb import AdbConnection, AdbError, host_signer, parse_target
from device_agent.errors import UnsupportedError
from device_agent.platform.base import DeviceFacts, InstallRefusal, Posture, managed
from device_agent.platform.requirements import Requirement, requirements, unapplied
from device_agent.shell_output import (
    FIRST_KNOX_USER,
    parse_install,
    parse_package_versions,
    parse_packages,
    parse_users,
    parse_version_code,
)

OREO_SDK = 26  # Android 8.0: `pm list packages --show-versioncode` arrived

_FACT_PROPS = (
    "ro.serialno",
    "ro.product.manufacturer",
    "ro.product.model",
    "ro.build.version.release",
    "ro.build.version.sdk",
    "ro.build.version.security_patch",
    "ro.boot.warranty_bit",
    "ro.crypto.state",
)
# Settings whose change would end the ADB connection this backend runs on.
_CUTS_THE_LINK = {"global/adb_enabled", "global/development_settings_enabled"}
STAGING = "/data/local/tmp/tabard-install.apk"
T = TypeVar("T")


class AdbPlatform:
    def __init__(self, host: str, port: int, key_directory: Path) -> None:
        self.host, self.port = host, port
        self.spec = f"adb:{host}:{port}"
        self._signer = host_signer(key_directory)
        self._kept: AdbConnection | None = None
        self._one_at_a_time = threading.Lock()  # the agent reads from worker threads

    def _connection(self) -> AdbConnection:
        """A connection of its own, for a change to the device: a change is never sent over a
        connection that may have gone stale, where it could fail half-way or be sent twice."""
        return AdbConnection(self.host, self.port, self._signer)

    def _read(self, read: Callable[[AdbConnection], T]) -> T:
        """A read over the device's one kept ADB connection, opened on first use. Opening one
        (the device's challenge signed with this host's RSA key) was nearly all of a read's
        time, and the gate reads the warranty bit before every entry to the secure side. One
        reader at a time (the agent reads from worker threads); if the kept connection has
        gone stale (the device restarted, the network dropped it while idle) the read is made
        once more over a fresh one."""
        with self._one_at_a_time:
            if self._kept is not None:
                try:
                    return read(self._kept)
                except AdbError:
                    self._let_go()  # gone stale: once more, over a fresh one
            adb = self._connection()
            adb.connect()
            self._kept = adb
            try:
                return read(adb)
            except AdbError:
                self._let_go()
                raise

    def _let_go(self) -> None:
        if self._kept is not None:
            self._kept.close()
            self._kept = None

    def close(self) -> None:
        """Close the kept connection (the agent is stopping)."""
        with self._one_at_a_time:
            self._let_go()

    def _props(self, adb: AdbConnection) -> dict[str, str]:
        lines = adb.shell("; ".join(f"getprop {name}" for name in _FACT_PROPS)).splitlines()
        return {
            name: (lines[i].strip() if i < len(lines) else "") for i, name in enumerate(_FACT_PROPS)
        }

    def facts(self) -> DeviceFacts:
        props = self._read(self._props)
        return DeviceFacts(
            serial=props["ro.serialno"],
            imei=None,  # not readable from the shell without a privileged service call
            manufacturer=props["ro.product.manufacturer"],
            model=props["ro.product.model"],
            android_version=props["ro.build.version.release"],
            sdk=int(props["ro.build.version.sdk"] or 0),
            security_patch=props["ro.build.version.security_patch"] or None,
            knox_version=None,  # the Knox API level comes from the Knox SDK, not a property
            warranty_bit=1 if props["ro.boot.warranty_bit"] == "1" else 0,
        )

    def posture(self, *, now: str) -> Posture:
        def read(adb: AdbConnection) -> tuple[dict[str, str], list[str], int | None, Any, str, Any]:
            props = self._props(adb)
            settings = adb.shell(
                "settings get global adb_enabled; "
                "settings get global development_settings_enabled; "
                "settings get secure install_non_market_apps"
            ).splitlines()
            secure = _secure_user(adb.shell("pm list users"))
            owners = adb.shell("dumpsys device_policy")
            apps = self._apps(adb, secure)
            versions = {}
            if secure is not None:
                sdk = int(props["ro.build.version.sdk"] or 0)
                versions["work"] = _work_versions(adb, sdk, secure, apps.get("work", []))
            return props, settings, secure, apps, owners, versions

        props, settings, secure, apps, owners, app_versions = self._read(read)
        sdk = int(props["ro.build.version.sdk"]) if props["ro.build.version.sdk"] else None
        usb, developer, unknown = (value.strip() == "1" for value in ([*settings, "", "", ""])[:3])
        return Posture(
            collected_at=now,
            model=props["ro.product.model"] or None,
            android_version=props["ro.build.version.release"] or None,
            sdk=sdk,
            security_patch=props["ro.build.version.security_patch"] or None,
            warranty_bit=1 if props["ro.boot.warranty_bit"] == "1" else 0,
            encrypted=props["ro.crypto.state"] == "encrypted",
            usb_debugging=usb,
            developer_options=developer,
            unknown_sources=unknown,
            apps=apps,
            app_versions=app_versions,
            management_mode=_management_mode(owners, secure),
        )

    def warranty_bit(self) -> int:
        bit = self._read(lambda adb: adb.shell("getprop ro.boot.warranty_bit"))
        return 1 if bit.strip() == "1" else 0

    def apps(self) -> dict[str, list[str]]:
        return self._read(lambda adb: self._apps(adb, _secure_user(adb.shell("pm list users"))))

    def _apps(self, adb: AdbConnection, secure: int | None) -> dict[str, list[str]]:
        """Packages that can run (`-e`: enabled), per profile."""
        apps = {"personal": _packages(adb.shell("pm list packages -e --user 0"))}
        if secure is not None:
            apps["work"] = _packages(adb.shell(f"pm list packages -e --user {secure}"))
        return apps

    def app_versions(self) -> dict[str, dict[str, int]]:
        def read(adb: AdbConnection) -> dict[str, dict[str, int]]:
            secure = _secure_user(adb.shell("pm list users"))
            users = {"personal": 0, "work": secure}
            return {
                profile: {name: _version(adb, name) for name in sorted(_packages_of(adb, user))}
                for profile, user in users.items()
                if user is not None
            }

        return self._read(read)

    # --- changing the device --------------------------------------------------------------
    def install_app(
        self, apk: Path, *, package: str, profile: str, allow_downgrade: bool
    ) -> tuple[InstallRefusal | None, int | None]:
        """`push`, then `pm install -r [-d] --user N`, then `rm` (reference section 1)."""
        flags = "-r -d" if allow_downgrade else "-r"
        with self._connection() as adb:
            user = 0 if profile == "personal" else self._require_secure_user(adb)
            adb.push(apk, STAGING)
            try:
                output = adb.shell(f"pm install {flags} --user {user} {STAGING}")
            finally:
                adb.shell(f"rm -f {STAGING}")
            failure = parse_install(output)
            if failure is not None:
                return InstallRefusal(*failure), None
            return None, _version(adb, package)

    def remove_app(self, package: str, *, profile: str) -> None:
        with self._connection() as adb:
            user = 0 if profile == "personal" else self._require_secure_user(adb)
            output = adb.shell(f"pm uninstall --user {user} {package}")
        if "Success" not in output:
            raise AdbError(f"could not remove {package} (user {user}): {output.strip()}")

    def apply_policy(self, policy: dict[str, Any]) -> list[str]:
        failed = []
        with self._connection() as adb:
            secure = _secure_user(adb.shell("pm list users"))
            for wanted in requirements(policy):
                if not _meet(adb, wanted, secure):
                    failed.append(wanted)
        return unapplied(failed)

    def lock_device(self) -> None:
        with self._connection() as adb:
            adb.shell("input keyevent KEYCODE_SLEEP")

    def lock_secure_side(self) -> None:
        with self._connection() as adb:
            secure = self._require_secure_user(adb)
            output = adb.shell(f"am stop-user -w {secure}")
        if "failed" in output.lower() or "error" in output.lower():
            raise AdbError(f"could not stop the secure side (user {secure}): {output.strip()}")

    def wipe_secure_side(self) -> dict[str, Any]:
        with self._connection() as adb:
            secure = _secure_user(adb.shell("pm list users"))
            if secure is None:
                return {"removed_user": None, "apps": []}
            apps = _packages(adb.shell(f"pm list packages --user {secure}"))
            output = adb.shell(f"pm remove-user {secure}")
        if "Success" not in output:
            raise AdbError(f"could not remove the secure side (user {secure}): {output.strip()}")
        return {"removed_user": secure, "apps": apps}

    def factory_reset(self) -> None:
        raise UnsupportedError(
            "a factory reset needs the device policy controller (wipeData); the ADB shell "
            "cannot do it (the MASTER_CLEAR broadcast is refused to the shell)"
        )

    def clear_clipboard(self) -> None:
        raise UnsupportedError("the ADB shell on Android 7 to 9 has no way to clear the clipboard")

    def reset_passcode(self) -> str:
        raise UnsupportedError(
            "removing the screen lock needs the device policy controller (resetPassword); the "
            "ADB shell's `locksettings clear` needs the old credential"
        )

    def save(self) -> dict[str, Any]:
        return {"spec": self.spec}

    def _require_secure_user(self, adb: AdbConnection) -> int:
        secure = _secure_user(adb.shell("pm list users"))
        if secure is None:
            raise UnsupportedError("this device has no secure side (no work profile) to lock")
        return secure


def open_adb(target: str, key_directory: Path) -> AdbPlatform:
    host, port = parse_target(target)
    return AdbPlatform(host, port, key_directory)


def _meet(adb: AdbConnection, wanted: Requirement, secure: int | None) -> bool:
    if wanted.kind == "setting":
        if wanted.name in _CUTS_THE_LINK:
            return False
        namespace, key = wanted.name.split("/")
        adb.shell(f"settings put {namespace} {key} {wanted.value}")
        return adb.shell(f"settings get {namespace} {key}").strip() == str(wanted.value)
    if wanted.kind == "disable_app":
        if wanted.name not in _packages(adb.shell(f"pm list packages --user 0 {wanted.name}")):
            return True  # an app that is not there cannot run
        output = adb.shell(f"pm disable-user --user 0 {wanted.name}")
        return "new state: disabled" in output
    if wanted.kind == "work_app" and secure is not None:
        output = adb.shell(f"pm install-existing --user {secure} {wanted.name}")
        return "installed for user" in output
    if wanted.kind == "remove_work_app":
        listed = f"pm list packages --user {secure} {wanted.name}"
        if secure is None or wanted.name not in _packages(adb.shell(listed)):
            return True  # no secure side, or not there: nothing of it can run there
        return "Success" in adb.shell(f"pm uninstall --user {secure} {wanted.name}")
    return False  # DevicePolicyManager restrictions need the device policy controller


def _packages(output: str) -> list[str]:
    return sorted(parse_packages(output))


def _packages_of(adb: AdbConnection, user: int) -> set[str]:
    return parse_packages(adb.shell(f"pm list packages --user {user}"))


def _work_versions(adb: AdbConnection, sdk: int, secure: int, work: list[str]) -> dict[str, int]:
    """The managed apps' versionCodes on the secure side: one `pm list packages
    --show-versioncode` on Android 8 and later; on 7, which lacks the option, `dumpsys package`
    for each managed app (a handful: the police apps and the agent)."""
    wanted = managed(work)
    if sdk >= OREO_SDK:
        listed = parse_package_versions(
            adb.shell(f"pm list packages -e --show-versioncode --user {secure}")
        )
        return {name: listed[name] for name in wanted if name in listed}
    return {name: _version(adb, name) for name in wanted}


def _version(adb: AdbConnection, package: str) -> int:
    """The installed versionCode, from `dumpsys package NAME` (Android 7 to 9 alike)."""
    return parse_version_code(adb.shell(f"dumpsys package {package}")) or 0


def _secure_user(users: str) -> int | None:
    """The secure side's user from `pm list users`: the managed profile."""
    for user in parse_users(users):
        if user.managed_profile:
            return user.id
    return None


def _management_mode(device_policy: str, secure: int | None) -> str:
    """The management mode from `dumpsys device_policy`'s owners and the secure side's user
    (a Knox 2.x Workspace is user 100 or above)."""
    device_owner = "Device Owner:" in device_policy
    profile_owner = secure is not None and f"Profile Owner (User {secure})" in device_policy
    if device_owner:
        if secure is not None and secure >= FIRST_KNOX_USER:
            return "device_owner_knox_workspace"
        return "device_owner_work_profile" if profile_owner else "device_owner"
    return "profile_owner" if profile_owner else "unmanaged"
