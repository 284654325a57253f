"""The `Platform` interface and the facts and posture it reports, shaped as the device
protocol carries them (docs/device-protocol.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from policies.checks import PLATFORM_PREFIXES


@dataclass(frozen=True)
class DeviceFacts:
    """What a device says about itself at enrolment."""

    serial: str
    imei: str | None
    manufacturer: str
    model: str
    android_version: str
    sdk: int
    security_patch: str | None
    knox_version: str | None
    warranty_bit: int

    def as_protocol(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ScreenLock:
    secure: bool
    type: str
    length: int | None = None  # digits, characters or pattern dots; never the secret itself


@dataclass(frozen=True)
class Posture:
    """The posture report: exactly the fields of the privacy contract, nothing more."""

    collected_at: str
    model: str | None = None
    android_version: str | None = None
    sdk: int | None = None
    security_patch: str | None = None
    knox_version: str | None = None
    warranty_bit: int | None = None
    encrypted: bool | None = None
    screen_lock: ScreenLock | None = None
    usb_debugging: bool | None = None
    developer_options: bool | None = None
    unknown_sources: bool | None = None
    apps: dict[str, list[str]] = field(default_factory=dict)
    # versionCodes of the managed apps on the secure side only (`{"work": {...}}`); the
    # officer's own apps' versions are never read.
    app_versions: dict[str, dict[str, int]] = field(default_factory=dict)
    management_mode: str | None = None
    policy_version_applied: int | None = None
    outbox_position: int | None = None

    def as_protocol(self) -> dict[str, Any]:
        """The JSON object sent at check-in, leaving out what the device could not tell."""
        report = {key: value for key, value in asdict(self).items() if value is not None}
        if self.screen_lock is not None and self.screen_lock.length is None:
            report["screen_lock"].pop("length")
        return report


def managed(packages: Iterable[str]) -> list[str]:
    """The packages Tabard manages, of those given: Android's and the maker's own aside."""
    return sorted(package for package in packages if not package.startswith(PLATFORM_PREFIXES))


@dataclass(frozen=True)
class InstallRefusal:
    """Why the device would not install an APK: Android's code and its words."""

    reason: str  # INSTALL_FAILED_OLDER_SDK, INSTALL_FAILED_UPDATE_INCOMPATIBLE, ...
    message: str


class Platform(Protocol):
    """The agent's only way to the device. An operation the backend cannot carry out on this
    device raises `UnsupportedError` saying why; none of them touches the personal side's apps
    or files except `factory_reset` and the policy's own personal-side settings."""

    spec: str

    def facts(self) -> DeviceFacts:
        """Identity and build facts for enrolment."""
        ...

    def posture(self, *, now: str) -> Posture:
        """The device's current posture."""
        ...

    def warranty_bit(self) -> int:
        """The Knox warranty bit alone (1: blown, the device has run unofficial software), read
        now: what the gate checks before each entry, without a whole posture's reads."""
        ...

    def apps(self) -> dict[str, list[str]]:
        """Installed packages per profile: `personal`, and `work` where there is a secure side."""
        ...

    def app_versions(self) -> dict[str, dict[str, int]]:
        """Installed packages and their versionCodes, per profile (`personal`, `work`)."""
        ...

    def install_app(
        self, apk: Path, *, package: str, profile: str, allow_downgrade: bool
    ) -> tuple[InstallRefusal | None, int | None]:
        """Install or update `package` from the APK file on the `profile` side, downgrading
        only when allowed: (None, the versionCode now installed), or (why not, None) with the
        device left as it was."""
        ...

    def remove_app(self, package: str, *, profile: str) -> None:
        """Uninstall `package` from the `profile` side only."""
        ...

    def apply_policy(self, policy: dict[str, Any]) -> list[str]:
        """Carry out what the resolved policy asks of the device, as far as this device and
        backend allow; returns the settings (dotted paths) that could not be applied."""
        ...

    def lock_device(self) -> None:
        """Lock the whole device now."""
        ...

    def lock_secure_side(self) -> None:
        """Stop the secure side's profile, so its data is locked until the gate opens it."""
        ...

    def wipe_secure_side(self) -> dict[str, Any]:
        """Remove the secure side's profile and its data; returns what was removed."""
        ...

    def factory_reset(self) -> None:
        """Erase the whole device."""
        ...

    def clear_clipboard(self) -> None:
        """Empty the clipboard (on leaving the secure side)."""
        ...

    def reset_passcode(self) -> str:
        """Remove the device's screen lock so its officer sets a new one; the lock removed."""
        ...

    def save(self) -> dict[str, Any]:
        """What must be kept to reopen this platform later."""
        ...

    def close(self) -> None:
        """Let go of whatever the platform holds open to the device (the agent is stopping)."""
        ...
