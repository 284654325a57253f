"""The stateful Android model behind a virtual device: properties, settings, users and
profiles, packages per user, identity. Serialisable to JSON a person can read."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from virtual_device.profiles import PROFILES, DeviceProfile, profile_for

# User flags as `pm list users` prints them (android.content.pm.UserInfo).
FLAG_PRIMARY = 0x01
FLAG_ADMIN = 0x02
FLAG_MANAGED_PROFILE = 0x20
FLAG_INITIALIZED = 0x10
FLAG_SYSTEM = 0x800
OWNER_FLAGS = FLAG_PRIMARY | FLAG_ADMIN | FLAG_INITIALIZED | FLAG_SYSTEM  # 0xc13

SYSTEM_PACKAGES = (
    "android",
    "com.android.settings",
    "com.android.chrome",
    "com.android.vending",
    "com.google.android.gms",
    "com.samsung.android.contacts",
    "com.samsung.android.messaging",
    "com.sec.android.app.camera",
    "com.sec.android.gallery3d",
    "com.sec.android.app.launcher",
)
# Samsung's Type Allocation Codes for the Galaxy J5 family (the first eight IMEI digits).
_J5_TAC = "35290208"


@dataclass
class UserInfo:
    id: int
    name: str
    flags: int
    running: bool = True


@dataclass
class PackageState:
    enabled: bool = True
    hidden: bool = False


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit that completes `digits` (the last digit of an IMEI)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str((10 - total % 10) % 10)


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
    packages: dict[int, dict[str, PackageState]] = field(default_factory=dict)
    accounts: list[str] = field(default_factory=list)
    screen_lock: str = "none"

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
            body = _J5_TAC + "".join(rng.choice("0123456789") for _ in range(6))
            imei = body + luhn_check_digit(body)
        props = profile.props()
        props["ro.serialno"] = serial
        return cls(
            profile_key=profile.key,
            serial=serial,
            imei=imei,
            props=props,
            knox_version=profile.knox_version,
            settings={
                "global": {
                    "adb_enabled": "1",
                    "development_settings_enabled": "0",
                    "package_verifier_enable": "1",
                },
                "secure": {
                    "install_non_market_apps": "0",
                    "android_id": "".join(rng.choice("0123456789abcdef") for _ in range(16)),
                },
                "system": {"screen_off_timeout": "30000"},
            },
            users={0: UserInfo(0, "Owner", OWNER_FLAGS)},
            packages={0: {name: PackageState() for name in SYSTEM_PACKAGES}},
        )

    @property
    def profile(self) -> DeviceProfile:
        return PROFILES[self.profile_key]

    def getprop(self, key: str) -> str:
        return self.props.get(key, "")

    def setting(self, namespace: str, key: str) -> str | None:
        return self.settings.get(namespace, {}).get(key)

    @property
    def warranty_bit(self) -> int:
        return 1 if self.getprop("ro.boot.warranty_bit") == "1" else 0

    def managed_profile(self) -> UserInfo | None:
        for user in self.users.values():
            if user.flags & FLAG_MANAGED_PROFILE:
                return user
        return None

    def installed(self, user_id: int) -> list[str]:
        return sorted(self.packages.get(user_id, {}))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["users"] = [asdict(user) for user in self.users.values()]
        data["packages"] = {
            str(user): {name: asdict(state) for name, state in sorted(pkgs.items())}
            for user, pkgs in self.packages.items()
        }
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VirtualDevice:
        return cls(
            profile_key=data["profile_key"],
            serial=data["serial"],
            imei=data.get("imei"),
            props=dict(data["props"]),
            knox_version=data["knox_version"],
            settings={ns: dict(values) for ns, values in data.get("settings", {}).items()},
            users={u["id"]: UserInfo(**u) for u in data.get("users", [])},
            packages={
                int(user): {name: PackageState(**state) for name, state in pkgs.items()}
                for user, pkgs in data.get("packages", {}).items()
            },
            accounts=list(data.get("accounts", [])),
            screen_lock=data.get("screen_lock", "none"),
        )
