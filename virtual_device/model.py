"""The stateful Android model behind a virtual device: build properties, settings, users and
profiles, packages per user, device and profile owners, accounts, files, lock state, reboot
and factory reset. Serialisable to JSON a person can read.

Every change goes through a method here, under the device's lock, so adbd connections (on
the event loop) and in-process callers (the agent's virtual platform) see one state."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from virtual_device.android import (
    DATA_FREE_BYTES,
    DATA_TOTAL_BYTES,
    FIRST_PROFILE_USER,
    FLAG_QUIET_MODE,
    J5_TAC,
    LOW_STORAGE_MAX_BYTES,
    MANAGED_FLAGS,
    OWNER_FLAGS,
    SYSTEM_PACKAGES,
    Broadcast,
    Component,
    Package,
    PackageState,
    UserInfo,
    luhn_check_digit,
)
from virtual_device.fs import VirtualFS
from virtual_device.profiles import PROFILES, DeviceProfile, profile_for


def _default_settings(rng: random.Random) -> dict[str, dict[str, str]]:
    return {
        "global": {
            "adb_enabled": "1",
            "development_settings_enabled": "1",
            "package_verifier_enable": "1",
            "stay_on_while_plugged_in": "0",
            "wifi_on": "1",
        },
        "secure": {
            "install_non_market_apps": "0",
            "android_id": "".join(rng.choice("0123456789abcdef") for _ in range(16)),
        },
        "system": {"screen_off_timeout": "30000"},
    }


@dataclass
class VirtualDevice:
    """One virtual handset or tablet."""

    profile_key: str
    serial: str
    imei: str | None
    props: dict[str, str]
    knox_version: str
    settings: dict[str, dict[str, str]] = field(default_factory=dict)
    users: dict[int, UserInfo] = field(default_factory=dict)
    packages: dict[str, Package] = field(default_factory=dict)
    installs: dict[int, dict[str, PackageState]] = field(default_factory=dict)
    device_owner: Component | None = None
    device_owner_name: str = ""
    profile_owners: dict[int, Component] = field(default_factory=dict)
    accounts: list[str] = field(default_factory=list)
    screen_lock: str = "none"
    locked: bool = False
    boot_count: int = 1
    adb_keys: list[str] = field(default_factory=list)
    fs: VirtualFS = field(default_factory=VirtualFS.fresh)
    broadcasts: list[Broadcast] = field(default_factory=list)
    knox_licensed: bool = False
    # What the device policy controller has set through DevicePolicyManager, per user (0: the
    # device owner's, a profile's id: its profile owner's), e.g. {"camera_disabled": True}.
    device_policies: dict[int, dict[str, Any]] = field(default_factory=dict)
    clipboard: str | None = None
    # Free bytes on /data: what `pm install` checks an APK against and `df /data` shows. Tests
    # and `tabard virtual-device --data-free` set it low to see INSTALL_FAILED_INSUFFICIENT_STORAGE.
    data_free: int = DATA_FREE_BYTES

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self._listeners: list[Any] = []

    # -- creation ------------------------------------------------------------------------

    @classmethod
    def create(
        cls, model: str, *, android: str | None = None, seed: int | None = None
    ) -> VirtualDevice:
        """A factory-fresh device of the given model; `seed` makes its identity repeatable."""
        profile = profile_for(model, android)
        rng = random.Random(seed)  # noqa: S311 - identities for a simulator, not secrets
        serial = "".join(rng.choice("0123456789abcdef") for _ in range(16))
        imei = None
        if profile.has_telephony:
            body = J5_TAC + "".join(rng.choice("0123456789") for _ in range(6))
            imei = body + luhn_check_digit(body)
        props = profile.props()
        props["ro.serialno"] = serial
        device = cls(
            profile_key=profile.key,
            serial=serial,
            imei=imei,
            props=props,
            knox_version=profile.knox_version,
            settings=_default_settings(rng),
        )
        device._reset_to_factory()
        return device

    def _reset_to_factory(self) -> None:
        self.data_free += sum(p.apk_size for p in self.packages.values() if not p.system)
        self.users = {0: UserInfo(0, "Owner", OWNER_FLAGS)}
        self.packages = {
            name: Package(
                name,
                system=True,
                uid=1000 + index,
                version_code=self.sdk,
                version_name=self.props.get("ro.build.version.release"),
                min_sdk=self.sdk,
                target_sdk=self.sdk,
            )
            for index, name in enumerate(SYSTEM_PACKAGES)
        }
        self.installs = {0: {name: PackageState() for name in SYSTEM_PACKAGES}}
        self.device_owner = None
        self.device_owner_name = ""
        self.profile_owners = {}
        self.accounts = []
        self.screen_lock = "none"
        self.locked = False
        self.fs = VirtualFS.fresh()
        self.broadcasts = []
        self.device_policies = {}
        self.clipboard = None

    @property
    def profile(self) -> DeviceProfile:
        return PROFILES[self.profile_key]

    @property
    def sdk(self) -> int:
        return int(self.props.get("ro.build.version.sdk", "0"))

    @property
    def device_name(self) -> str:
        return self.props.get("ro.product.device", "android")

    # -- observers: the adbd drops connections when the device reboots or is wiped --------

    def subscribe(self, listener: Any) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Any) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self, event: str) -> None:
        for listener in list(self._listeners):
            listener(event)

    # -- properties and settings ---------------------------------------------------------

    def getprop(self, key: str) -> str:
        return self.props.get(key, "")

    def setting(self, namespace: str, key: str) -> str | None:
        return self.settings.get(namespace, {}).get(key)

    def put_setting(self, namespace: str, key: str, value: str) -> None:
        with self.lock:
            self.settings.setdefault(namespace, {})[key] = value

    @property
    def adb_enabled(self) -> bool:
        return self.setting("global", "adb_enabled") == "1"

    @property
    def warranty_bit(self) -> int:
        return 1 if self.getprop("ro.boot.warranty_bit") == "1" else 0

    # -- users ---------------------------------------------------------------------------

    def managed_profile(self) -> UserInfo | None:
        for user in self.users.values():
            if user.is_managed_profile:
                return user
        return None

    def add_user(self, user: UserInfo) -> UserInfo:
        with self.lock:
            self.users[user.id] = user
            self.installs.setdefault(user.id, {})
            return user

    def create_managed_profile(self, *, parent: int, name: str) -> UserInfo | None:
        """A new managed profile, or None where Android would refuse one: a second profile,
        a parent that is not a full user, or (before Android 8) a device owner already set,
        since a work profile beside a device owner needs Android 8.0 (COMP)."""
        with self.lock:
            if parent not in self.users or self.users[parent].is_managed_profile:
                return None
            if self.managed_profile() is not None:
                return None
            if self.device_owner is not None and self.sdk < 26:
                return None
            new_id = FIRST_PROFILE_USER
            while new_id in self.users:
                new_id += 1
            profile = UserInfo(new_id, name, MANAGED_FLAGS, running=False, parent=parent)
            self.add_user(profile)
            for name_ in SYSTEM_PACKAGES:
                self.installs[new_id][name_] = PackageState()
            return profile

    def remove_user(self, user_id: int) -> bool:
        with self.lock:
            if user_id == 0 or user_id not in self.users:
                return False
            del self.users[user_id]
            self.installs.pop(user_id, None)
            self.profile_owners.pop(user_id, None)
            self.device_policies.pop(user_id, None)
            return True

    def set_user_running(self, user_id: int, running: bool) -> bool:
        with self.lock:
            user = self.users.get(user_id)
            if user is None:
                return False
            user.running = running
            return True

    # -- packages ------------------------------------------------------------------------

    def installed(self, user_id: int) -> list[str]:
        return sorted(self.installs.get(user_id, {}))

    def is_installed(self, package: str, user_id: int) -> bool:
        return package in self.installs.get(user_id, {})

    def install(self, package: Package, *, users: list[int]) -> None:
        """Add or replace a package for these users, its APK taking space on /data."""
        with self.lock:
            known = self.packages.get(package.name)
            now = self.now()
            if known is not None:
                package.uid = known.uid
                package.first_install_time = known.first_install_time or now
                self.data_free += known.apk_size
            else:
                package.uid = 10000 + len([p for p in self.packages.values() if not p.system])
                package.first_install_time = now
            package.last_update_time = now
            self.data_free = max(0, self.data_free - package.apk_size)
            self.packages[package.name] = package
            for user in users:
                self.installs.setdefault(user, {}).setdefault(package.name, PackageState())

    @property
    def data_total(self) -> int:
        return max(DATA_TOTAL_BYTES, self.data_free)

    def fits_on_data(self, size: int, *, replacing: str | None = None) -> bool:
        """Whether an APK of `size` bytes fits on /data without dipping below Android's
        low-storage threshold (PackageHelper.fitsOnInternal, android-7.1.2); the APK it
        replaces is counted as freed, as Android sizes an update against the space after it."""
        with self.lock:
            known = self.packages.get(replacing) if replacing else None
            available = self.data_free + (known.apk_size if known is not None else 0)
            low = min(self.data_total // 10, LOW_STORAGE_MAX_BYTES)
            return available - low >= size

    def install_existing(self, package: str, user_id: int) -> bool:
        with self.lock:
            if package not in self.packages or user_id not in self.users:
                return False
            self.installs.setdefault(user_id, {}).setdefault(package, PackageState())
            return True

    def set_enabled(self, package: str, user_id: int, enabled: bool) -> bool:
        """`pm enable` / `pm disable-user` for one user; False if not installed for it."""
        with self.lock:
            state = self.installs.get(user_id, {}).get(package)
            if state is None:
                return False
            state.enabled = enabled
            return True

    def uninstall(self, package: str, *, user_id: int | None) -> None:
        with self.lock:
            users = [user_id] if user_id is not None else list(self.installs)
            for user in users:
                self.installs.get(user, {}).pop(package, None)
            still_installed = any(package in pkgs for pkgs in self.installs.values())
            if not still_installed and not self.packages[package].system:
                self.data_free += self.packages.pop(package).apk_size

    def owns_device_policy(self, package: str) -> bool:
        """Whether a package is the device owner or a profile owner (so cannot be removed)."""
        owners = [self.device_owner, *self.profile_owners.values()]
        return any(owner is not None and owner.package == package for owner in owners)

    # -- owners --------------------------------------------------------------------------

    def device_owner_refusal(self) -> str | None:
        """Why a device owner cannot be set now, in DevicePolicyManagerService's words and
        order (checkDeviceOwnerProvisioningPreCondition, Android 7), or None."""
        if self.device_owner is not None:
            return "Trying to set the device owner, but device owner is already set."
        if 0 in self.profile_owners:
            return "Trying to set the device owner, but the user already has a profile owner."
        refused = "Not allowed to set the device owner because there are already"
        if len(self.users) > 1:
            return f"{refused} several users on the device"
        if self.accounts:
            return f"{refused} some accounts on the device"
        return None

    def has_admin_receiver(self, component: Component, user_id: int) -> bool:
        package = self.packages.get(component.package)
        return (
            package is not None
            and self.is_installed(component.package, user_id)
            and component.cls in package.admin_receivers
        )

    # -- lifecycle -----------------------------------------------------------------------

    def reboot(self) -> None:
        """Restart: profiles come back running unless in quiet mode, and a secure lock
        screen is locked again. ADB connections drop."""
        with self.lock:
            self.boot_count += 1
            for user in self.users.values():
                user.running = user.id == 0 or not (user.flags & FLAG_QUIET_MODE)
            self.locked = self.screen_lock in ("pin", "password", "pattern")
        self._notify("reboot")

    def lock_now(self) -> None:
        """DevicePolicyManager.lockNow: the screen goes off and the keyguard shows."""
        with self.lock:
            self.locked = True
        self._notify("lock")

    def screen_off(self) -> None:
        """The power or sleep key: locked afterwards only behind a secure screen lock."""
        with self.lock:
            self.locked = self.locked or self.screen_lock in ("pin", "password", "pattern")

    def set_device_policy(self, user_id: int, name: str, value: Any) -> None:
        with self.lock:
            self.device_policies.setdefault(user_id, {})[name] = value

    def clear_screen_lock(self) -> str:
        """DevicePolicyManager.resetPassword(""): the screen lock is removed; the old one."""
        with self.lock:
            old, self.screen_lock = self.screen_lock, "none"
        return old

    def set_clipboard(self, text: str | None) -> None:
        with self.lock:
            self.clipboard = text

    def factory_reset(self) -> None:
        """Wipe everything but the hardware: identity, build and the Knox e-fuse stay;
        users, apps, owners, accounts, files, settings and authorised ADB keys go. USB
        debugging is off afterwards, as on a phone fresh out of set-up."""
        with self.lock:
            self._reset_to_factory()
            rng = random.Random(self.serial)  # noqa: S311 - a new android_id, not a secret
            self.settings = _default_settings(rng)
            self.settings["global"]["adb_enabled"] = "0"
            self.settings["global"]["development_settings_enabled"] = "0"
            self.adb_keys = []
            self.boot_count += 1
        self._notify("factory_reset")

    def record_broadcast(self, broadcast: Broadcast) -> None:
        with self.lock:
            self.broadcasts.append(broadcast)

    @staticmethod
    def now() -> int:
        return int(time.time())

    # -- persistence ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "profile_key": self.profile_key,
                "serial": self.serial,
                "imei": self.imei,
                "knox_version": self.knox_version,
                "knox_licensed": self.knox_licensed,
                "props": dict(sorted(self.props.items())),
                "settings": {ns: dict(sorted(v.items())) for ns, v in self.settings.items()},
                "users": [asdict(user) for user in sorted(self.users.values(), key=lambda u: u.id)],
                "packages": [
                    asdict(p) for p in sorted(self.packages.values(), key=lambda p: p.name)
                ],
                "installs": {
                    str(user): {name: asdict(state) for name, state in sorted(pkgs.items())}
                    for user, pkgs in sorted(self.installs.items())
                },
                "device_owner": self.device_owner.flat if self.device_owner else None,
                "device_owner_name": self.device_owner_name,
                "profile_owners": {str(u): c.flat for u, c in sorted(self.profile_owners.items())},
                "accounts": list(self.accounts),
                "screen_lock": self.screen_lock,
                "locked": self.locked,
                "boot_count": self.boot_count,
                "adb_keys": list(self.adb_keys),
                "broadcasts": [asdict(b) for b in self.broadcasts],
                "device_policies": {
                    str(user): dict(sorted(policies.items()))
                    for user, policies in sorted(self.device_policies.items())
                },
                "clipboard": self.clipboard,
                "data_free": self.data_free,
                "files": self.fs.to_dict(),
            }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VirtualDevice:
        device = cls(
            profile_key=data["profile_key"],
            serial=data["serial"],
            imei=data.get("imei"),
            props=dict(data["props"]),
            knox_version=data["knox_version"],
            knox_licensed=bool(data.get("knox_licensed", False)),
            settings={ns: dict(values) for ns, values in data.get("settings", {}).items()},
            users={u["id"]: UserInfo(**u) for u in data.get("users", [])},
            packages={p["name"]: Package(**p) for p in data.get("packages", [])},
            installs={
                int(user): {name: PackageState(**state) for name, state in pkgs.items()}
                for user, pkgs in data.get("installs", {}).items()
            },
            device_owner=Component.parse(data["device_owner"])
            if data.get("device_owner")
            else None,
            device_owner_name=data.get("device_owner_name", ""),
            profile_owners={
                int(u): Component.parse(c) for u, c in data.get("profile_owners", {}).items()
            },
            accounts=list(data.get("accounts", [])),
            screen_lock=data.get("screen_lock", "none"),
            locked=bool(data.get("locked", False)),
            boot_count=int(data.get("boot_count", 1)),
            adb_keys=list(data.get("adb_keys", [])),
            broadcasts=[Broadcast(**b) for b in data.get("broadcasts", [])],
            device_policies={
                int(user): dict(policies)
                for user, policies in data.get("device_policies", {}).items()
            },
            clipboard=data.get("clipboard"),
            data_free=int(data.get("data_free", DATA_FREE_BYTES)),
        )
        if "files" in data:
            device.fs = VirtualFS.from_dict(data["files"])
        return device

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VirtualDevice) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


__all__ = ["VirtualDevice"]
