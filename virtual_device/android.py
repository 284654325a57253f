"""Android's value types as a virtual device keeps them: users and their flags, packages and
their per-user state, components, broadcasts; and the constants they use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# UserInfo flags (android.content.pm.UserInfo) as `pm list users` prints them, in hex.
FLAG_PRIMARY = 0x01
FLAG_ADMIN = 0x02
FLAG_INITIALIZED = 0x10
FLAG_MANAGED_PROFILE = 0x20
FLAG_QUIET_MODE = 0x80
FLAG_SYSTEM = 0x800
FLAG_FULL = 0x400
OWNER_FLAGS = FLAG_PRIMARY | FLAG_ADMIN | FLAG_INITIALIZED | FLAG_FULL | FLAG_SYSTEM  # c13
MANAGED_FLAGS = FLAG_MANAGED_PROFILE | FLAG_INITIALIZED  # 30

# Samsung's extra users, which block a device owner (reference section 3).
DUAL_APP_USER = 95
SECURE_FOLDER_USER = 150
FIRST_KNOX_USER = 100
FIRST_PROFILE_USER = 10

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
# /data on a 16 GB Galaxy J5 (about 11 GiB for apps and their data), what a factory-fresh one
# has free, and Android's low-storage threshold: 10% of the volume, at most 500 MB
# (StorageManager.getStorageLowBytes, DEFAULT_THRESHOLD_PERCENTAGE / _MAX_BYTES, android-7.1.2).
DATA_TOTAL_BYTES = 11 * 1024**3
DATA_FREE_BYTES = 8 * 1024**3
LOW_STORAGE_MAX_BYTES = 500 * 1024**2
# Samsung's Type Allocation Code for the Galaxy J5 family (the first eight IMEI digits).
J5_TAC = "35290208"


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit that completes `digits` (the last digit of an IMEI)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str((10 - total % 10) % 10)


class ApkManifest(Protocol):
    """What `pm install` keeps of an APK (virtual_device.apk.ApkInfo has it)."""

    @property
    def package(self) -> str: ...
    @property
    def version_code(self) -> int: ...
    @property
    def version_name(self) -> str | None: ...
    @property
    def min_sdk(self) -> int: ...
    @property
    def target_sdk(self) -> int: ...
    @property
    def debuggable(self) -> bool: ...
    @property
    def admin_receivers(self) -> tuple[str, ...]: ...
    @property
    def signer_sha256(self) -> str: ...


@dataclass
class UserInfo:
    id: int
    name: str
    flags: int
    running: bool = True
    parent: int | None = None

    @property
    def is_managed_profile(self) -> bool:
        return bool(self.flags & FLAG_MANAGED_PROFILE)


@dataclass
class PackageState:
    """A package's state for one user."""

    enabled: bool = True
    hidden: bool = False


@dataclass
class Package:
    """A package known to the device (system image or installed from an APK): what its
    manifest says, the SHA-256 of the certificate that signed it (empty for the system
    image's, signed with the platform key), and the size of its APK on /data."""

    name: str
    version_code: int = 1
    system: bool = False
    admin_receivers: list[str] = field(default_factory=list)
    uid: int = 10000
    version_name: str | None = None
    min_sdk: int = 1
    target_sdk: int = 1
    signer_sha256: str = ""
    apk_size: int = 0
    first_install_time: int = 0
    last_update_time: int = 0
    debuggable: bool = False

    @classmethod
    def from_apk(cls, info: ApkManifest, size: int) -> Package:
        """The package an APK installs, as `pm install` records it."""
        return cls(
            info.package,
            version_code=info.version_code,
            admin_receivers=list(info.admin_receivers),
            version_name=info.version_name,
            min_sdk=info.min_sdk,
            target_sdk=info.target_sdk,
            signer_sha256=info.signer_sha256,
            apk_size=size,
            debuggable=info.debuggable,
        )

    @property
    def path(self) -> str:
        if self.system:
            short = self.name.rsplit(".", 1)[-1]
            return f"/system/app/{short}/{short}.apk"
        return f"/data/app/{self.name}-1/base.apk"


@dataclass
class Component:
    package: str
    cls: str

    @classmethod
    def parse(cls, text: str) -> Component:
        """`pkg/.Receiver` or `pkg/pkg.Receiver`."""
        package, slash, name = text.partition("/")
        if not slash or not package or not name:
            raise ValueError(text)
        return cls(package, package + name if name.startswith(".") else name)

    @property
    def flat(self) -> str:
        return f"{self.package}/{self.cls}"

    @property
    def info(self) -> str:
        return f"ComponentInfo{{{self.flat}}}"


# The Tabard agent (the device policy controller) and the police apps it manages.
TABARD_DPC = Component("uk.police.tabard.agent", "uk.police.tabard.agent.Admin")
POLICE_APPS = (
    "uk.police.tabard.gate",
    "uk.police.pnc.mobile",
    "uk.police.pocketbook",
    "uk.police.incidents",
    "uk.police.statements",
)


@dataclass
class Broadcast:
    action: str
    component: str | None
    extras: dict[str, str]
    user: int
