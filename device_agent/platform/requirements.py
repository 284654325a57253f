"""What a resolved policy asks of the device, in device terms: the settings to put, the
DevicePolicyManager restrictions to set (on the device or in the work profile), the personal-
side apps to disable, the secure-side apps to install and those to remove. Each item names
the policy setting it comes from, so what a backend cannot apply is reported as that setting
(docs/device-protocol.md §5, `policy_unapplied`). Pure: a backend does the applying."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policies.checks import MIN_SDK
from policies.layering import flatten_mapping

# Setting path -> (value that asks for the change, namespace, key, value to put).
SETTINGS: dict[str, tuple[Any, str, str, str]] = {
    "device.usb_debugging_allowed": (False, "global", "adb_enabled", "0"),
    "device.developer_options_allowed": (False, "global", "development_settings_enabled", "0"),
    "device.unknown_sources_allowed": (False, "secure", "install_non_market_apps", "0"),
}
# Setting path -> (value that asks for it, restriction set in the work profile).
WORK_RESTRICTIONS: dict[str, tuple[Any, str]] = {
    "secure_side.camera_allowed": (False, "camera_disabled"),
    "secure_side.screen_capture_allowed": (False, "screen_capture_disabled"),
    "secure_side.cross_profile_copy_paste_allowed": (False, "no_cross_profile_copy_paste"),
    "secure_side.share_into_work_allowed": (False, "no_sharing_into_profile"),
    "secure_side.share_out_of_work_allowed": (False, "no_cross_profile_share"),
    "secure_side.contacts_search_from_personal_allowed": (
        False,
        "cross_profile_contacts_search_disabled",
    ),
    "secure_side.separate_work_challenge": (True, "separate_work_challenge"),
}
# Setting path -> device-wide password and storage policy (device owner).
DEVICE_RESTRICTIONS: dict[str, str] = {
    "device.passcode.min_length": "password_minimum_length",
    "device.passcode.quality": "password_quality",
    "device.passcode.max_failed_attempts": "maximum_failed_passwords_for_wipe",
    "device.passcode.lock_timeout_minutes": "maximum_time_to_lock_minutes",
    "device.encryption_required": "storage_encryption",
}


@dataclass(frozen=True)
class Requirement:
    """One thing to do on the device, and the policy setting it carries out."""

    path: str
    # "setting", "device_restriction", "work_restriction", "disable_app", "work_app",
    # "remove_work_app"
    kind: str
    name: str  # setting "namespace/key", restriction name or package
    value: Any = None
    min_sdk: int = 0


def requirements(policy: dict[str, Any]) -> list[Requirement]:
    """What `policy` (the resolved document from `GET /api/v1/device/policy`) asks of the
    device, in a fixed order."""
    settings = flatten_mapping(policy)
    wanted: list[Requirement] = []
    for path, (when, namespace, key, value) in SETTINGS.items():
        if settings.get(path) == when:
            wanted.append(Requirement(path, "setting", f"{namespace}/{key}", value))
    for path, name in DEVICE_RESTRICTIONS.items():
        if settings.get(path) not in (None, False):
            wanted.append(Requirement(path, "device_restriction", name, settings[path]))
    for path, (when, name) in WORK_RESTRICTIONS.items():
        if settings.get(path) == when:
            min_sdk = MIN_SDK[path][0] if path in MIN_SDK else 0
            wanted.append(Requirement(path, "work_restriction", name, True, min_sdk))
    for package in settings.get("personal_side.blocked_apps") or ():
        wanted.append(Requirement("personal_side.blocked_apps", "disable_app", str(package)))
    for app in settings.get("secure_side.allowed_apps") or ():
        wanted.append(Requirement("secure_side.allowed_apps", "work_app", str(app["package"])))
    for package in settings.get("secure_side.blocked_apps") or ():
        wanted.append(Requirement("secure_side.blocked_apps", "remove_work_app", str(package)))
    return wanted


def unapplied(failed: list[Requirement]) -> list[str]:
    """The settings behind the requirements a backend could not meet, each once, sorted."""
    return sorted({requirement.path for requirement in failed})
