"""What a device is and what is already on it, read over ADB: build properties, users,
accounts and owners. Parsing is pure and tested against the outputs in
../shared/reference/android-adb.md section 3; reading is one round of shell commands."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from device_agent.shell_output import User, parse_packages, parse_users, work_profile

__all__ = [
    "DeviceFacts",
    "Shell",
    "User",
    "parse_accounts",
    "parse_owners",
    "parse_packages",
    "parse_props",
    "parse_users",
    "read_facts",
]

_PROPS = (
    "ro.serialno",
    "ro.product.manufacturer",
    "ro.product.model",
    "ro.build.version.release",
    "ro.build.version.sdk",
    "ro.build.version.security_patch",
    "ro.config.knox",
    "ro.boot.warranty_bit",
    "ro.warranty_bit",
)
_ACCOUNT = re.compile(r"Account \{name=([^,]*), type=([^}]*)\}")
_DEVICE_OWNER = re.compile(r"Device Owner:\s*\n\s*admin=ComponentInfo\{([^}]+)\}")
_PROFILE_OWNER = re.compile(r"Profile Owner \(User (\d+)\):\s*\n\s*admin=ComponentInfo\{([^}]+)\}")


class Shell(Protocol):
    """What reading and changing a device needs of an ADB connection."""

    address: str

    def shell(self, command: str) -> str: ...

    def run(self, command: str) -> tuple[str, int]: ...

    def push(self, data: bytes, device_path: str, *, mode: int = 0o644) -> None: ...


@dataclass(frozen=True)
class DeviceFacts:
    serial: str
    manufacturer: str
    model: str
    android_version: str
    sdk: int
    security_patch: str | None
    knox: str | None  # ro.config.knox; the Knox API level itself comes from the Knox SDK
    warranty_bit: int
    users: tuple[User, ...] = ()
    accounts: tuple[str, ...] = ()  # "type:name"
    device_owner: str | None = None  # the component, "pkg/cls"
    profile_owners: dict[int, str] = field(default_factory=dict)
    packages: tuple[str, ...] = ()  # on the device for any user (`pm list packages -u`)
    personal_packages: tuple[str, ...] = ()  # installed for user 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["profile_owners"] = {str(k): v for k, v in self.profile_owners.items()}
        return data

    def work_profile(self) -> User | None:
        """The managed profile that is not one of Samsung's own, if there is one."""
        return work_profile(self.users)


def parse_props(output: str, names: tuple[str, ...] = _PROPS) -> dict[str, str]:
    """`getprop A; getprop B; ...` prints one line per property, empty when unset."""
    lines = output.split("\n")
    return {name: lines[i].strip() if i < len(lines) else "" for i, name in enumerate(names)}


def parse_accounts(output: str) -> tuple[str, ...]:
    """`dumpsys account`: `Account {name=..., type=...}` lines, as `type:name`."""
    return tuple(f"{m.group(2)}:{m.group(1)}" for m in _ACCOUNT.finditer(output))


def parse_owners(output: str) -> tuple[str | None, dict[int, str]]:
    """`dumpsys device_policy`: the device owner's component and each profile owner's."""
    device_owner = _DEVICE_OWNER.search(output)
    profile_owners = {int(m.group(1)): m.group(2) for m in _PROFILE_OWNER.finditer(output)}
    return (device_owner.group(1) if device_owner else None), profile_owners


def read_facts(shell: Shell) -> DeviceFacts:
    """The device's facts, read with six shell commands."""
    props = parse_props(shell.shell("; ".join(f"getprop {name}" for name in _PROPS)))
    device_owner, profile_owners = parse_owners(shell.shell("dumpsys device_policy"))
    sdk = props["ro.build.version.sdk"]
    blown = "1" in (props["ro.boot.warranty_bit"], props["ro.warranty_bit"])
    return DeviceFacts(
        serial=props["ro.serialno"],
        manufacturer=props["ro.product.manufacturer"],
        model=props["ro.product.model"],
        android_version=props["ro.build.version.release"],
        sdk=int(sdk) if sdk.isdigit() else 0,
        security_patch=props["ro.build.version.security_patch"] or None,
        knox=props["ro.config.knox"] or None,
        warranty_bit=1 if blown else 0,
        users=parse_users(shell.shell("pm list users")),
        accounts=parse_accounts(shell.shell("dumpsys account")),
        device_owner=device_owner,
        profile_owners=profile_owners,
        packages=tuple(sorted(parse_packages(shell.shell("pm list packages -u")))),
        personal_packages=tuple(sorted(parse_packages(shell.shell("pm list packages --user 0")))),
    )
