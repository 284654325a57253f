"""What Android's shell prints, parsed: `pm list users` and `pm list packages`, with the
outputs in ../shared/reference/android-adb.md section 3. Pure; shared by the agent's `adb`
platform and provisioning."""

from __future__ import annotations

import re
from dataclasses import dataclass

_USER = re.compile(r"UserInfo\{(\d+):([^:}]*):([0-9a-fA-F]+)\}( running)?")
FLAG_MANAGED_PROFILE = 0x20
# Samsung's own users: Dual Messenger, Secure Folder, and Knox 2.x containers from 100.
DUAL_APP_USER = 95
SECURE_FOLDER_USER = 150
FIRST_KNOX_USER = 100


@dataclass(frozen=True)
class User:
    id: int
    name: str
    flags: int
    running: bool

    @property
    def managed_profile(self) -> bool:
        return bool(self.flags & FLAG_MANAGED_PROFILE)

    @property
    def samsung_kind(self) -> str | None:
        """Which Samsung feature a user belongs to, if it is one of theirs."""
        if self.id == DUAL_APP_USER or self.name == "DUAL_APP":
            return "Dual Messenger"
        if self.id == SECURE_FOLDER_USER or self.name == "Secure Folder":
            return "Secure Folder"
        if self.id >= FIRST_KNOX_USER:
            return "Knox container"
        return None


def parse_users(output: str) -> tuple[User, ...]:
    """`pm list users`: `\\tUserInfo{id:name:hexflags} running` per user."""
    return tuple(
        User(int(m.group(1)), m.group(2), int(m.group(3), 16), bool(m.group(4)))
        for m in _USER.finditer(output)
    )


def work_profile(users: tuple[User, ...]) -> User | None:
    """The managed profile that is not one of Samsung's own, if there is one."""
    for user in users:
        if user.managed_profile and user.samsung_kind is None:
            return user
    return None


def parse_packages(output: str) -> set[str]:
    """`pm list packages`: `package:NAME` per line."""
    return {
        line.removeprefix("package:").strip()
        for line in output.splitlines()
        if line.startswith("package:")
    }


_PACKAGE_VERSION = re.compile(r"^package:(\S+) versionCode:(\d+)\s*$", re.MULTILINE)


def parse_package_versions(output: str) -> dict[str, int]:
    """`pm list packages --show-versioncode` (Android 8 and later): `package:NAME
    versionCode:N` per line."""
    return {match.group(1): int(match.group(2)) for match in _PACKAGE_VERSION.finditer(output)}


_FAILURE = re.compile(r"Failure \[([A-Z_]+)(?::\s*(.*?))?\]", re.DOTALL)


def parse_install(output: str) -> tuple[str, str] | None:
    """`pm install`: None on `Success`, else Android's failure code and the whole failure
    line (`Failure [INSTALL_FAILED_OLDER_SDK]`, reference section 4)."""
    if any(line.strip() == "Success" for line in output.splitlines()):
        return None
    found = _FAILURE.search(output)
    if found is None:
        text = " ".join(output.split()) or "no output"
        return "INSTALL_FAILED_INTERNAL_ERROR", f"pm install did not succeed: {text}"
    return found.group(1), found.group(0)


_VERSION_CODE = re.compile(r"^\s*versionCode=(\d+)", re.MULTILINE)


def parse_version_code(dumpsys: str) -> int | None:
    """The first `versionCode=N` of `dumpsys package NAME` (the installed package's)."""
    found = _VERSION_CODE.search(dumpsys)
    return int(found.group(1)) if found else None
