"""What each setting checks in a posture: the checks themselves, each setting's severity, what
an Android level or management mode cannot enforce and the compensating control, and which
privacy-contract item each check reads. Data for policies.compliance; no evaluation here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal

from policies.document import QUALITY_ORDER, version_key
from policies.posture import DevicePosture

Status = Literal["compliant", "non_compliant", "unknown", "incompatible"]
Overall = Literal["compliant", "incompatible", "in_grace", "non_compliant", "unknown"]

SEVERITY: dict[str, str] = {
    "device.warranty_bit_must_be_zero": "critical",
    "device.encryption_required": "high",
    "device.min_android_version": "high",
    "device.allowed_models": "high",
    "device.unknown_sources_allowed": "high",
    "device.passcode.quality": "high",
    "device.passcode.min_length": "high",
    "device.max_security_patch_age_days": "medium",
    "device.usb_debugging_allowed": "medium",
    "personal_side.blocked_apps": "medium",
    "secure_side.allowed_apps": "medium",
    "secure_side.blocked_apps": "high",
    "secure_side.required_apps": "medium",
    "secure_side.app_versions": "medium",
    "device.developer_options_allowed": "low",
}
UNAPPLIED_SEVERITY = "medium"
CAPABILITY_SEVERITY = "medium"

# How the lock screen types map onto DevicePolicyManager's password quality.
LOCK_QUALITY = {
    "none": "none",
    "swipe": "none",
    "pattern": "something",
    "biometric": "something",
    "pin": "numeric",
    "password": "alphanumeric",
}
# Packages of the platform itself, present in every work profile; never "unapproved apps".
PLATFORM_PREFIXES = (
    "android",
    "com.android.",
    "com.google.android.",
    "com.samsung.android.",
    "com.sec.android.",
)
# Tabard's own agent owns the work profile (provisioning puts it there), so no allow-list needs
# to name it. The same name as device_agent.handover.AGENT_PACKAGE, which this pure package
# may not import.
AGENT_PACKAGE = "uk.police.tabard.agent"
# Management modes in which Tabard's DPC controls the whole device, not just the work profile.
DEVICE_WIDE_MODES = {"device_owner_work_profile", "device_owner_knox_workspace", "device_owner"}
# Settings only a device owner can enforce on the personal side.
NEEDS_DEVICE_OWNER = {
    "device.usb_debugging_allowed",
    "device.unknown_sources_allowed",
    "device.developer_options_allowed",
    "personal_side.blocked_apps",
}
# Settings Android enforces only from an API level (DevicePolicyManager, UserManager).
MIN_SDK: dict[str, tuple[int, Any, str]] = {
    "secure_side.separate_work_challenge": (
        24,
        True,
        "Tabard's gate asks for the officer's PIN at every entry to the secure side",
    ),
    "secure_side.contacts_search_from_personal_allowed": (
        24,
        False,
        "cross-profile caller ID is disabled and no contacts sync into the profile",
    ),
    "secure_side.share_into_work_allowed": (
        28,
        False,
        "cross-profile intent filters are cleared and only allow-listed ones added",
    ),
}


Check = Callable[[Any, DevicePosture, datetime], tuple[Status, Any]]


def _boolean(attribute: str, *, bad: bool) -> Check:
    def check(expected: Any, posture: DevicePosture, now: datetime) -> tuple[Status, Any]:
        actual = getattr(posture, attribute)
        if actual is None:
            return "unknown", None
        return ("non_compliant" if actual == bad else "compliant"), actual

    return check


def _encryption(expected: Any, posture: DevicePosture, now: datetime) -> tuple[Status, Any]:
    if posture.encrypted is None:
        return "unknown", None
    return ("compliant" if posture.encrypted else "non_compliant"), posture.encrypted


def _warranty(expected: Any, posture: DevicePosture, now: datetime) -> tuple[Status, Any]:
    if posture.warranty_bit is None:
        return "unknown", None
    return ("compliant" if posture.warranty_bit == 0 else "non_compliant"), posture.warranty_bit


def _quality(expected: Any, posture: DevicePosture, now: datetime) -> tuple[Status, Any]:
    lock = posture.screen_lock
    quality = LOCK_QUALITY.get(lock.type or "") if lock is not None else None
    if quality is None:
        return "unknown", lock.type if lock is not None else None
    ok = QUALITY_ORDER.index(quality) >= QUALITY_ORDER.index(expected)
    return ("compliant" if ok else "non_compliant"), quality


def _length(expected: Any, posture: DevicePosture, now: datetime) -> tuple[Status, Any]:
    lock = posture.screen_lock
    length = lock.length if lock is not None else None
    if length is None and lock is not None and lock.type in ("none", "swipe"):
        length = 0  # no secret at all
    if length is None:
        return "unknown", None
    return ("compliant" if length >= expected else "non_compliant"), length


def _android(expected: Any, posture: DevicePosture, now: datetime) -> tuple[Status, Any]:
    actual, wanted = version_key(posture.android_version), version_key(expected)
    if actual is None or wanted is None:
        return "unknown", posture.android_version
    return ("compliant" if actual >= wanted else "non_compliant"), posture.android_version


def _patch_age(expected: Any, posture: DevicePosture, now: datetime) -> tuple[Status, Any]:
    if posture.security_patch is None:
        return "unknown", None
    age = (now.date() - posture.security_patch).days
    actual = {"security_patch": posture.security_patch.isoformat(), "age_days": age}
    return ("compliant" if age <= expected else "non_compliant"), actual


def _models(expected: Any, posture: DevicePosture, now: datetime) -> tuple[Status, Any]:
    if posture.model is None:
        return "unknown", None
    return ("compliant" if posture.model in expected else "non_compliant"), posture.model


def _blocked(profile: str) -> Check:
    """A check that none of the blocked apps is on the `profile` side."""

    def check(expected: Any, posture: DevicePosture, now: datetime) -> tuple[Status, Any]:
        installed = (posture.apps or {}).get(profile)
        if installed is None:
            return "unknown", None
        found = sorted(set(installed) & set(expected))
        return ("non_compliant" if found else "compliant"), found

    return check


def _allowed(expected: Any, posture: DevicePosture, now: datetime) -> tuple[Status, Any]:
    work = (posture.apps or {}).get("work")
    if work is None:
        return "unknown", None
    allowed = {app["package"] for app in expected}
    extra = sorted(
        p for p in set(work) - allowed - {AGENT_PACKAGE} if not p.startswith(PLATFORM_PREFIXES)
    )
    return ("non_compliant" if extra else "compliant"), extra


def _required(expected: Any, posture: DevicePosture, now: datetime) -> tuple[Status, Any]:
    work = (posture.apps or {}).get("work")
    if work is None:
        return "unknown", None
    missing = sorted(set(expected) - set(work))
    return ("non_compliant" if missing else "compliant"), missing


def _versions(expected: Any, posture: DevicePosture, now: datetime) -> tuple[Status, Any]:
    """Each app older than its minimum, and from when that counts. An app not there at all is
    the required-apps rule's business, not this one's."""
    installed = (posture.app_versions or {}).get("work")
    if installed is None:
        return "unknown", None
    behind = [
        {"package": package, "installed": installed[package], **minimum}
        for package, minimum in sorted(expected.items())
        if package in installed and installed[package] < minimum["min_version_code"]
    ]
    today = now.date().isoformat()
    due = any(app.get("min_version_from", "") <= today for app in behind)
    return ("non_compliant" if due else "compliant"), behind


def version_minimums(allowed: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """The allowed apps that name a minimum version: package -> {min_version_code[,
    min_version_from]}."""
    return {
        app["package"]: {
            key: app[key] for key in ("min_version_code", "min_version_from") if key in app
        }
        for app in allowed or ()
        if app.get("min_version_code") is not None
    }


def next_version_due(actual: Any, now: datetime) -> datetime | None:
    """When the first app now older than its minimum, but not yet counted, starts to count."""
    days = [
        date.fromisoformat(app["min_version_from"])
        for app in actual or ()
        if isinstance(app, dict) and app.get("min_version_from", "") > now.date().isoformat()
    ]
    if not days:
        return None
    return datetime.combine(min(days), datetime.min.time(), tzinfo=now.tzinfo)


# (setting, the value that makes it a requirement (None: any), check)
OBSERVED: tuple[tuple[str, Any, Check], ...] = (
    ("device.encryption_required", True, _encryption),
    ("device.warranty_bit_must_be_zero", True, _warranty),
    ("device.passcode.quality", None, _quality),
    ("device.passcode.min_length", None, _length),
    ("device.min_android_version", None, _android),
    ("device.max_security_patch_age_days", None, _patch_age),
    ("device.usb_debugging_allowed", False, _boolean("usb_debugging", bad=True)),
    ("device.unknown_sources_allowed", False, _boolean("unknown_sources", bad=True)),
    ("device.developer_options_allowed", False, _boolean("developer_options", bad=True)),
    ("device.allowed_models", None, _models),
    ("personal_side.blocked_apps", None, _blocked("personal")),
    ("secure_side.allowed_apps", None, _allowed),
    ("secure_side.blocked_apps", None, _blocked("work")),
)

# Rules read from part of a setting: (rule, setting, what the rule expects of the setting's
# value (nothing: not checked), check).
DERIVED: tuple[tuple[str, str, Callable[[Any], Any], Check], ...] = (
    (
        "secure_side.required_apps",
        "secure_side.allowed_apps",
        lambda allowed: sorted(
            app["package"] for app in allowed or () if app.get("assignment") == "required"
        ),
        _required,
    ),
    ("secure_side.app_versions", "secure_side.allowed_apps", version_minimums, _versions),
)
# The setting each rule comes from: itself, but for the derived rules.
SETTING_OF: dict[str, str] = {rule: setting for rule, setting, _, _ in DERIVED}


def _names(packages: Any) -> str:
    return ", ".join(str(package) for package in packages or ())


# What a failing finding of these rules tells the officer and IT, from what the device has.
MESSAGES: dict[str, Callable[[Any], str]] = {
    "secure_side.blocked_apps": lambda found: f"blocked on the secure side: {_names(found)}",
    "secure_side.required_apps": lambda missing: (
        f"not yet on the secure side: {_names(missing)}; it is being installed"
    ),
    "secure_side.app_versions": lambda behind: (
        "an older version than allowed: "
        + _names(app["package"] for app in behind or () if isinstance(app, dict))
    ),
}


# The privacy-contract item each observed rule reads; a rule whose item the contract leaves
# out is `unknown`, whatever the device sent.
COLLECTED_AS: dict[str, str] = {
    "device.encryption_required": "encrypted",
    "device.warranty_bit_must_be_zero": "warranty_bit",
    "device.passcode.quality": "screen_lock",
    "device.passcode.min_length": "screen_lock",
    "device.min_android_version": "android_version",
    "device.max_security_patch_age_days": "security_patch",
    "device.usb_debugging_allowed": "usb_debugging",
    "device.unknown_sources_allowed": "unknown_sources",
    "device.developer_options_allowed": "developer_options",
    "device.allowed_models": "model",
    "personal_side.blocked_apps": "apps.personal",
}


def device_owner_control(posture: DevicePosture) -> str:
    if posture.sdk is not None and posture.sdk >= 26:
        return (
            "re-provision as a device owner with a work profile; until then the posture is "
            "watched and a breach blocks the secure side"
        )
    return (
        "a device owner with a licensed Knox Workspace (a work profile beside a device "
        "owner needs Android 8); until then the posture is watched and a breach blocks "
        "the secure side"
    )
