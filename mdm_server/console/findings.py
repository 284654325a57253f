"""A device's findings in words for the device page: what each rule checks, what the policy
expects and what the device has, and what the enforcement ladder does when its grace ends.
The setting's own name (`device.passcode.quality`) is kept beside the words, for finding it
in the policy document."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mdm_server.console.templating import plain
from mdm_server.policies.schemas import ActionPublic, Explanation, FindingPublic
from policies.checks import SETTING_OF

# What each rule checks, as IT would say it.
RULES: dict[str, str] = {
    "device.encryption_required": "Storage encryption",
    "device.warranty_bit_must_be_zero": "Knox warranty bit (tampering)",
    "device.passcode.quality": "Screen lock strength",
    "device.passcode.min_length": "Screen lock length",
    "device.passcode.max_failed_attempts": "Failed unlocks before the secure side is wiped",
    "device.passcode.lock_timeout_minutes": "Screen lock timeout",
    "device.checkin_interval_minutes": "Check-in interval",
    "device.min_android_version": "Android version",
    "device.max_security_patch_age_days": "Security patch age",
    "device.usb_debugging_allowed": "USB debugging",
    "device.unknown_sources_allowed": "Apps from unknown sources",
    "device.developer_options_allowed": "Developer options",
    "device.allowed_models": "Device model",
    "personal_side.blocked_apps": "Blocked apps on the personal side",
    "secure_side.allowed_apps": "Apps on the secure side",
    "secure_side.blocked_apps": "Blocked apps on the secure side",
    "secure_side.required_apps": "Required apps on the secure side",
    "secure_side.app_versions": "App versions on the secure side",
    "secure_side.separate_work_challenge": "A separate unlock for the secure side",
    "secure_side.contacts_search_from_personal_allowed": "Contacts search from the personal side",
    "secure_side.share_into_work_allowed": "Sharing into the secure side",
    "secure_side.share_out_of_work_allowed": "Sharing out of the secure side",
    "secure_side.camera_allowed": "Camera in the secure side",
    "secure_side.screen_capture_allowed": "Screenshots of the secure side",
    "secure_side.cross_profile_copy_paste_allowed": "Copy and paste between the sides",
    "secure_side.inactivity_lock_minutes": "Secure side lock when idle",
    "secure_side.lock_on_switch_to_personal": "Secure side lock on switching to personal",
    "secure_side.max_session_hours": "Longest secure-side session",
    "secure_side.offline_grace_hours": "Offline grace for the secure side",
    "secure_side.offline_crypto_shred_days": "Offline days before the key is destroyed",
    "secure_side.pin_max_failed_attempts": "Failed PINs before a lockout",
    "secure_side.pin_lockout_minutes": "PIN lockout",
}
# DevicePolicyManager's password qualities (policies.document.QUALITY_ORDER) in words.
QUALITIES: dict[str, str] = {
    "none": "no lock, or swipe",
    "something": "pattern or biometric",
    "numeric": "PIN",
    "numeric_complex": "PIN without repeats or runs",
    "alphabetic": "password of letters",
    "alphanumeric": "password of letters and digits",
    "complex": "complex password",
}
# The ladder's actions (policies.document.ACTION_ORDER) in words: as an order, and as what
# then happens to the device.
ACTIONS: dict[str, str] = {
    "notify": "notify IT (an audit event)",
    "block_secure_side": "block the secure side",
    "lock_device": "lock the device",
    "wipe_secure_side": "wipe the secure side",
}
OUTCOMES: dict[str, str] = {
    "block_secure_side": "the secure side is blocked",
    "lock_device": "the device is locked",
    "wipe_secure_side": "the secure side is wiped",
}


@dataclass(frozen=True)
class FindingInWords:
    finding: FindingPublic
    rule: str  # what the rule checks
    expected: str
    actual: str
    layers: list[str]
    then: str  # what the ladder does when the grace ends (at finding.grace_deadline), or blank


def _on_off(value: Any) -> str:
    return {True: "on", False: "off"}.get(value, plain(value))


def _allowed(value: Any) -> str:
    return {True: "allowed", False: "not allowed"}.get(value, plain(value))


def _quality(value: Any) -> str:
    return QUALITIES.get(str(value), plain(value))


def _patch(value: Any) -> str:
    if isinstance(value, Mapping) and isinstance(value.get("age_days"), int):
        return f"{value.get('security_patch')} ({value['age_days']:,} days old)"
    return plain(value)


def _apps(value: Any) -> str:
    names = [app["package"] if isinstance(app, Mapping) else app for app in value or []]
    return plain(names)


def _minimums(value: Any) -> str:
    """`{package: {min_version_code, min_version_from}}` as "PACKAGE at least N (from DAY)"."""
    if not isinstance(value, Mapping):
        return plain(value)
    return "; ".join(
        f"{package} at least {minimum.get('min_version_code')}"
        + (f" from {minimum['min_version_from']}" if minimum.get("min_version_from") else "")
        for package, minimum in value.items()
        if isinstance(minimum, Mapping)
    )


def _behind(value: Any) -> str:
    """The apps older than their minimum, each with the version it has."""
    if not isinstance(value, list):
        return plain(value)
    if not value:
        return "all at their minimum or newer"
    return "; ".join(
        f"{app.get('package')} at {app.get('installed')} (needs {app.get('min_version_code')}"
        + (f" from {app['min_version_from']})" if app.get("min_version_from") else ")")
        for app in value
        if isinstance(app, Mapping)
    )


def _at_most(unit: str) -> Callable[[Any], str]:
    return lambda v: f"at most {v} {unit}"


# rule -> (expected in words, actual in words), where `plain` says too little. Any other
# `..._allowed` setting reads as allowed or not.
_WORDS: dict[str, tuple[Callable[[Any], str], Callable[[Any], str]]] = {
    "device.passcode.max_failed_attempts": (_at_most("attempts"), plain),
    "device.passcode.lock_timeout_minutes": (_at_most("minutes"), plain),
    "device.checkin_interval_minutes": (lambda v: f"every {v} minutes", plain),
    "secure_side.inactivity_lock_minutes": (_at_most("minutes"), plain),
    "secure_side.max_session_hours": (_at_most("hours"), plain),
    "secure_side.offline_grace_hours": (_at_most("hours"), plain),
    "secure_side.offline_crypto_shred_days": (_at_most("days"), plain),
    "secure_side.pin_max_failed_attempts": (_at_most("attempts"), plain),
    "secure_side.pin_lockout_minutes": (lambda v: f"{v} minutes", plain),
    "secure_side.separate_work_challenge": (
        lambda v: "required" if v else "not required",
        plain,
    ),
    "secure_side.lock_on_switch_to_personal": (lambda v: "yes" if v else "no", plain),
    "device.encryption_required": (
        lambda _: "encrypted",
        lambda v: {True: "encrypted", False: "not encrypted"}.get(v, plain(v)),
    ),
    "device.warranty_bit_must_be_zero": (
        lambda _: "0 (never tripped)",
        lambda v: {0: "0 (never tripped)", 1: "1 (tripped: rooted or flashed)"}.get(v, plain(v)),
    ),
    "device.passcode.quality": (lambda v: f"{_quality(v)} or stronger", _quality),
    "device.passcode.min_length": (
        lambda v: f"at least {v}",
        lambda v: "0 (no lock)" if v == 0 else plain(v),
    ),
    "device.min_android_version": (lambda v: f"{v} or later", plain),
    "device.max_security_patch_age_days": (lambda v: f"at most {v} days old", _patch),
    "device.usb_debugging_allowed": (_on_off, _on_off),
    "device.developer_options_allowed": (_on_off, _on_off),
    "device.unknown_sources_allowed": (_allowed, _allowed),
    "personal_side.blocked_apps": (lambda v: f"none of {plain(v)}", plain),
    "secure_side.allowed_apps": (
        lambda v: f"only {_apps(v)}",
        lambda v: f"others: {plain(v)}" if v else "no others",
    ),
    "secure_side.blocked_apps": (
        lambda v: f"none of {plain(v)}",
        lambda v: f"there: {plain(v)}" if v else "none there",
    ),
    "secure_side.required_apps": (
        lambda v: f"all of {plain(v)}",
        lambda v: f"missing: {plain(v)}" if v else "all there",
    ),
    "secure_side.app_versions": (_minimums, _behind),
}


def _words(rule: str) -> tuple[Callable[[Any], str], Callable[[Any], str]]:
    if rule in _WORDS:
        return _WORDS[rule]
    if rule.endswith("_allowed"):
        return _allowed, _allowed
    return plain, plain


def _values(finding: FindingPublic) -> tuple[str, str]:
    expect, have = _words(finding.rule)
    expected, actual = expect(finding.expected), finding.actual
    if isinstance(actual, Mapping) and "needs_sdk" in actual:  # Android cannot enforce it
        return expected, f"Android API level {actual.get('sdk')}; it needs {actual['needs_sdk']}"
    if actual is None and finding.status == "unknown":
        return expected, "not reported"
    if actual == "not applied":
        return expected, "not applied by the device"
    return expected, have(actual)


def _rule(path: str) -> str:
    """What the rule checks; for one not named here, its last part in words."""
    if path in RULES:
        return RULES[path]
    words = path.rsplit(".", 1)[-1].replace("_", " ")
    return words[:1].upper() + words[1:]


def _then(finding: FindingPublic, ladders: Mapping[str, Any]) -> str:
    """What the ladder does when the finding's grace ends (its first step past notifying),
    in words, or blank."""
    if finding.status != "non_compliant" or finding.grace_deadline is None:
        return ""
    steps = ladders.get(finding.severity) or []
    action = next((s.get("action") for s in steps if s.get("action") != "notify"), None)
    if action is None:
        return ""
    return OUTCOMES.get(action, str(action).replace("_", " "))


def in_words(explanation: Explanation) -> list[FindingInWords]:
    """Each finding of the explanation in words, the failing first, then as the engine sorts."""
    settings = {setting.path: setting for setting in explanation.settings}
    ladders = settings["enforcement.ladders"].value if "enforcement.ladders" in settings else {}
    rows = []
    for finding in explanation.findings:
        expected, actual = _values(finding)
        origin = settings.get(SETTING_OF.get(finding.rule, finding.rule))
        rows.append(
            FindingInWords(
                finding=finding,
                rule=_rule(finding.rule),
                expected=expected,
                actual=actual,
                layers=list(origin.layers) if origin else [],
                then=_then(finding, ladders or {}),
            )
        )
    order = {"non_compliant": 0, "unknown": 1, "incompatible": 2, "compliant": 3}
    return sorted(rows, key=lambda row: order.get(row.finding.status, 1))


def actions_in_words(actions: list[ActionPublic]) -> list[tuple[str, datetime, list[str]]]:
    """The ladder's actions due now: each in words, since when, and the rules behind it."""
    return [
        (
            ACTIONS.get(action.action, action.action.replace("_", " ")),
            action.due_at,
            [_rule(rule) for rule in action.rules],
        )
        for action in actions
    ]
