"""Compliance: `evaluate(policy, posture, *, now)` returns findings and the enforcement
actions due now. Pure, deterministic, and total: it never raises on a posture a device can
send (malformed fields read as unknown).

A finding's status is `compliant`, `non_compliant`, `unknown` (the device did not say) or
`incompatible`: the device's Android level or management mode cannot enforce the setting.
An incompatible setting names its compensating control and is never reported as compliant;
a breach that is observed all the same is `non_compliant`, so the ladder still applies.

The overall status is the worst of: `non_compliant` (a failing finding past its grace, or
with none), `in_grace` (failing, all within grace), `unknown` (some setting could not be
checked), `incompatible` (everything checkable complies, but some settings cannot be
enforced on this device), `compliant`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from policies.document import ACTION_ORDER, QUALITY_ORDER, PolicyDocument
from policies.layering import ResolvedPolicy
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


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    status: Status
    expected: Any
    actual: Any
    first_seen: datetime | None = None
    grace_deadline: datetime | None = None
    compensating_control: str | None = None
    message: str = ""


@dataclass(frozen=True)
class ActionDue:
    action: str
    severity: str
    rules: tuple[str, ...]
    due_at: datetime


@dataclass(frozen=True)
class Evaluation:
    """`next_change`: the first moment after `now` at which the same posture under the same
    policy would evaluate differently (a ladder step falls due, a patch grows too old), or
    None if time alone changes nothing. Until then the evaluation stands."""

    status: Overall
    findings: tuple[Finding, ...]
    actions: tuple[ActionDue, ...] = field(default_factory=tuple)
    next_change: datetime | None = None

    def failing(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status == "non_compliant")


def _version(text: str | None) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in str(text).split(".")) if text else None
    except ValueError:
        return None


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
    actual, wanted = _version(posture.android_version), _version(expected)
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


def _blocked(expected: Any, posture: DevicePosture, now: datetime) -> tuple[Status, Any]:
    personal = (posture.apps or {}).get("personal")
    if personal is None:
        return "unknown", None
    found = sorted(set(personal) & set(expected))
    return ("non_compliant" if found else "compliant"), found


def _allowed(expected: Any, posture: DevicePosture, now: datetime) -> tuple[Status, Any]:
    work = (posture.apps or {}).get("work")
    if work is None:
        return "unknown", None
    allowed = {app["package"] for app in expected}
    extra = sorted(p for p in set(work) - allowed if not p.startswith(PLATFORM_PREFIXES))
    return ("non_compliant" if extra else "compliant"), extra


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
    ("personal_side.blocked_apps", None, _blocked),
    ("secure_side.allowed_apps", None, _allowed),
)


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


def _device_owner_control(posture: DevicePosture) -> str:
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


def _observed_findings(
    settings: Mapping[str, Any], posture: DevicePosture, now: datetime
) -> list[Finding]:
    findings = []
    contract = settings.get("personal_side.privacy_contract")
    device_wide = posture.management_mode in DEVICE_WIDE_MODES
    profile_only = posture.management_mode == "profile_owner"
    for rule, requirement, check in OBSERVED:
        expected = settings.get(rule)
        if expected is None or (requirement is not None and expected != requirement):
            continue
        needs = COLLECTED_AS.get(rule)
        if contract is not None and needs is not None and needs not in contract:
            findings.append(
                Finding(
                    rule=rule,
                    severity=SEVERITY[rule],
                    status="unknown",
                    expected=expected,
                    actual=None,
                    message=f"the privacy contract does not collect {needs}",
                )
            )
            continue
        status, actual = check(expected, posture, now)
        control = None
        if rule in NEEDS_DEVICE_OWNER and profile_only and not device_wide:
            control = _device_owner_control(posture)
            if status != "non_compliant":
                status = "incompatible"
        findings.append(
            Finding(
                rule=rule,
                severity=SEVERITY[rule],
                status=status,
                expected=expected,
                actual=actual,
                compensating_control=control,
            )
        )
    return findings


def _capability_findings(settings: Mapping[str, Any], posture: DevicePosture) -> list[Finding]:
    findings: list[Finding] = []
    if posture.sdk is None:
        return findings
    for rule, (min_sdk, requirement, control) in MIN_SDK.items():
        if settings.get(rule) == requirement and posture.sdk < min_sdk:
            findings.append(
                Finding(
                    rule=rule,
                    severity=CAPABILITY_SEVERITY,
                    status="incompatible",
                    expected=requirement,
                    actual={"sdk": posture.sdk, "needs_sdk": min_sdk},
                    compensating_control=control,
                    message=f"Android enforces this from API level {min_sdk}",
                )
            )
    return findings


def _unapplied_findings(
    settings: Mapping[str, Any], posture: DevicePosture, already: set[str]
) -> list[Finding]:
    return [
        Finding(
            rule=path,
            severity=UNAPPLIED_SEVERITY,
            status="non_compliant",
            expected=settings[path],
            actual="not applied",
            message="the device reported it could not apply this setting",
        )
        for path in sorted(set(posture.policy_unapplied or ()))
        if path in settings and path not in already
    ]


def _with_grace(
    finding: Finding, ladders: Mapping[str, Any], first_seen: Mapping[str, datetime], now: datetime
) -> Finding:
    if finding.status != "non_compliant":
        return finding
    seen = min(first_seen.get(finding.rule, now), now)  # never later than now (clock skew)
    restricting = [step for step in ladders.get(finding.severity, []) if step["action"] != "notify"]
    deadline = seen + timedelta(hours=restricting[0]["after_hours"]) if restricting else None
    return Finding(**{**finding.__dict__, "first_seen": seen, "grace_deadline": deadline})


def _actions(
    findings: tuple[Finding, ...], ladders: Mapping[str, Any], now: datetime
) -> tuple[ActionDue, ...]:
    due: dict[str, tuple[str, set[str], datetime]] = {}
    for finding in findings:
        if finding.status != "non_compliant" or finding.first_seen is None:
            continue
        for step in ladders.get(finding.severity, []):
            at = finding.first_seen + timedelta(hours=step["after_hours"])
            if at > now:
                continue
            action = step["action"]
            severity, rules, when = due.get(action, (finding.severity, set(), at))
            rules.add(finding.rule)
            worst = max(severity, finding.severity, key=("low", "medium", "high", "critical").index)
            due[action] = (worst, rules, min(when, at))
    return tuple(
        ActionDue(action=action, severity=severity, rules=tuple(sorted(rules)), due_at=when)
        for action, (severity, rules, when) in sorted(
            due.items(), key=lambda item: ACTION_ORDER.index(item[0])
        )
    )


def _next_change(
    findings: tuple[Finding, ...],
    ladders: Mapping[str, Any],
    settings: Mapping[str, Any],
    now: datetime,
) -> datetime | None:
    moments = []
    for finding in findings:
        if finding.status == "non_compliant" and finding.first_seen is not None:
            for step in ladders.get(finding.severity, []):
                at = finding.first_seen + timedelta(hours=step["after_hours"])
                if at > now:
                    moments.append(at)
        elif finding.rule == "device.max_security_patch_age_days" and finding.status == "compliant":
            patched = date.fromisoformat(finding.actual["security_patch"])
            too_old = patched + timedelta(days=settings[finding.rule] + 1)
            moments.append(datetime.combine(too_old, time(), tzinfo=now.tzinfo))
    return min(moments, default=None)


def _overall(findings: tuple[Finding, ...], now: datetime) -> Overall:
    failing = [f for f in findings if f.status == "non_compliant"]
    if any(f.grace_deadline is None or f.grace_deadline <= now for f in failing):
        return "non_compliant"
    if failing:
        return "in_grace"
    if any(f.status == "unknown" for f in findings):
        return "unknown"
    if any(f.status == "incompatible" for f in findings):
        return "incompatible"
    return "compliant"


def evaluate(
    policy: ResolvedPolicy | PolicyDocument,
    posture: DevicePosture | Mapping[str, Any] | None,
    *,
    now: datetime,
    first_seen: Mapping[str, datetime] | None = None,
) -> Evaluation:
    """Findings for every setting the policy sets and the posture can speak to, and the
    ladder's actions due at `now`. `first_seen` carries, per rule, when it was first found
    failing (from the last evaluation), so grace periods run from then."""
    resolved = policy if isinstance(policy, ResolvedPolicy) else ResolvedPolicy.single(policy)
    settings = resolved.settings
    observed = DevicePosture.lenient(posture)
    findings = _observed_findings(settings, observed, now)
    findings += _capability_findings(settings, observed)
    findings += _unapplied_findings(settings, observed, {f.rule for f in findings})
    ladders = settings.get("enforcement.ladders") or {}
    since = first_seen or {}
    graded = tuple(
        sorted((_with_grace(f, ladders, since, now) for f in findings), key=lambda f: f.rule)
    )
    return Evaluation(
        status=_overall(graded, now),
        findings=graded,
        actions=_actions(graded, ladders, now),
        next_change=_next_change(graded, ladders, settings, now),
    )
