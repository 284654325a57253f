"""`dumpsys package [NAME]`: the `Packages:` section as PackageManagerService prints it
(Settings.dumpPackagesLPr / dumpPackageLPr, android-7.1.2_r1; 8.x adds ` instant=false` to
each user's line and 9.0 ` virtual=false` after it). Other sections (resolver tables,
permissions, shared users) are not modelled: tooling reads this one."""

from __future__ import annotations

import time
import zlib

from virtual_device.android import Package
from virtual_device.model import VirtualDevice

OREO_SDK = 26
PIE_SDK = 28
COMPONENT_ENABLED_STATE_DISABLED_USER = 3
_FLAGS = "[ HAS_CODE ALLOW_CLEAR_USER_DATA ALLOW_BACKUP ]"
_SYSTEM_FLAGS = "[ SYSTEM HAS_CODE ALLOW_CLEAR_USER_DATA ALLOW_BACKUP ]"


def _hash(*parts: object) -> str:
    """A stand-in for Java's identityHashCode in hex: stable for the same object."""
    return f"{zlib.crc32(':'.join(map(str, parts)).encode()) & 0x7FFFFFF:x}"


def _when(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


def code_path(package: Package) -> str:
    """The directory the package's APK lives in (PackageSetting.codePathString)."""
    return package.path.rsplit("/", 1)[0]


def _user_line(device: VirtualDevice, package: Package, user_id: int) -> str:
    state = device.installs.get(user_id, {}).get(package.name)
    installed = state is not None
    enabled = 0 if state is None or state.enabled else COMPONENT_ENABLED_STATE_DISABLED_USER
    line = (
        f"    User {user_id}: ceDataInode={(package.uid * 31 + user_id) * 7 if installed else 0}"
        f" installed={str(installed).lower()}"
        f" hidden={str(bool(state and state.hidden)).lower()} suspended=false"
        f" stopped={str(not installed).lower()} notLaunched={str(not installed).lower()}"
        f" enabled={enabled}"
    )
    if device.sdk >= OREO_SDK:
        line += " instant=false"
    if device.sdk >= PIE_SDK:
        line += " virtual=false"
    return line


def dump_package(device: VirtualDevice, package: Package) -> list[str]:
    """One `Package [NAME] (hash):` block."""
    identity = _hash(device.serial, package.name)
    path = code_path(package)
    flags = _SYSTEM_FLAGS if package.system else _FLAGS
    installed = package.first_install_time or device.boot_count
    lines = [
        f"  Package [{package.name}] ({identity}):",
        f"    userId={package.uid}",
        f"    pkg=Package{{{_hash(identity, 'pkg')} {package.name}}}",
        f"    codePath={path}",
        f"    resourcePath={path}",
        f"    legacyNativeLibraryDir={path}/lib",
        "    primaryCpuAbi=null",
        "    secondaryCpuAbi=null",
        f"    versionCode={package.version_code} minSdk={package.min_sdk} "
        f"targetSdk={package.target_sdk}",
        f"    versionName={package.version_name if package.version_name is not None else 'null'}",
        "    splits=[base]",
        f"    applicationInfo=ApplicationInfo{{{_hash(identity, 'ai')} {package.name}}}",
        f"    flags={flags}",
        f"    dataDir=/data/user/0/{package.name}",
        "    supportsScreens=[small, medium, large, xlarge, resizeable, anyDensity]",
        f"    timeStamp={_when(package.last_update_time or installed)}",
        f"    firstInstallTime={_when(installed)}",
        f"    lastUpdateTime={_when(package.last_update_time or installed)}",
        f"    signatures=PackageSignatures{{{_hash(identity, 'sig')} "
        f"[{(package.signer_sha256 or _hash('platform'))[:8]}]}}",
        "    installPermissionsFixed=true installStatus=1",
        f"    pkgFlags={flags}",
    ]
    lines += [_user_line(device, package, user_id) for user_id in sorted(device.users)]
    return lines


def dumpsys_package(device: VirtualDevice, name: str | None) -> str:
    """`dumpsys package [NAME]`: nothing for an unknown package, as Android prints no
    `Packages:` title when no package matches."""
    with device.lock:
        chosen = [
            device.packages[key] for key in sorted(device.packages) if name is None or key == name
        ]
        if not chosen:
            return ""
        lines = ["Packages:"]
        for package in chosen:
            lines += dump_package(device, package)
        return "\n".join(lines) + "\n"
