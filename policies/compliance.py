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

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from operator import attrgetter
from typing import Any

from policies.checks import (
    CAPABILITY_SEVERITY,
    COLLECTED_AS,
    DERIVED,
    MESSAGES,
    MIN_SDK,
    NEEDS_DEVICE_OWNER,
    OBSERVED,
    SEVERITY,
    UNAPPLIED_SEVERITY,
    Check,
    Overall,
    Status,
    device_owner_control,
    next_version_due,
)
from policies.document import ACTION_ORDER, SEVERITIES, PolicyDocument
from policies.layering import ResolvedPolicy
from policies.posture import DevicePosture


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


@dataclass(frozen=True)
class _Plan:
    """A resolved policy compiled for evaluation, once per policy: the checks that apply,
    with their expected values and severities, and the ladders as time offsets."""

    settings: Mapping[str, Any]
    # (rule, expected, check, severity, privacy-contract item withheld or None)
    observed: tuple[tuple[str, Any, Check, str, str | None], ...]
    # (rule, minimum SDK, requirement, compensating control)
    capability: tuple[tuple[str, int, Any, str], ...]
    steps: Mapping[str, tuple[tuple[str, timedelta], ...]]
    grace: Mapping[str, timedelta | None]


def _plan(resolved: ResolvedPolicy) -> _Plan:
    plan = resolved.memo.get("compliance")
    if plan is None:
        plan = resolved.memo["compliance"] = _compile(resolved.settings)
    assert isinstance(plan, _Plan)
    return plan


def _compile(settings: Mapping[str, Any]) -> _Plan:
    contract = settings.get("personal_side.privacy_contract")
    observed = []
    for rule, requirement, check in OBSERVED:
        expected = settings.get(rule)
        if expected is None or (requirement is not None and expected != requirement):
            continue
        needs = COLLECTED_AS.get(rule)
        withheld = (
            needs if contract is not None and needs is not None and needs not in contract else None
        )
        observed.append((rule, expected, check, SEVERITY[rule], withheld))
    for rule, setting, derive, check in DERIVED:
        expected = derive(settings.get(setting))
        if expected:
            observed.append((rule, expected, check, SEVERITY[rule], None))
    capability = tuple(
        (rule, min_sdk, requirement, control)
        for rule, (min_sdk, requirement, control) in MIN_SDK.items()
        if settings.get(rule) == requirement
    )
    ladders = settings.get("enforcement.ladders") or {}
    steps = {
        severity: tuple((step["action"], timedelta(hours=step["after_hours"])) for step in ladder)
        for severity, ladder in ladders.items()
    }
    grace = {
        severity: next((offset for action, offset in ladder if action != "notify"), None)
        for severity, ladder in steps.items()
    }
    return _Plan(settings, tuple(observed), capability, steps, grace)


def _graded(
    rule: str,
    severity: str,
    status: Status,
    expected: Any,
    actual: Any,
    plan: _Plan,
    since: Mapping[str, datetime],
    now: datetime,
    *,
    control: str | None = None,
    message: str = "",
) -> Finding:
    """A finding; a failing one with when it was first seen (never later than now, whatever
    a skewed clock said) and its grace deadline (the ladder's first step past notifying)."""
    if status != "non_compliant":
        return Finding(rule, severity, status, expected, actual, None, None, control, message)
    seen = since.get(rule, now)
    if seen > now:
        seen = now
    grace = plan.grace.get(severity)
    deadline = seen + grace if grace is not None else None
    return Finding(rule, severity, status, expected, actual, seen, deadline, control, message)


def _findings(
    plan: _Plan, posture: DevicePosture, since: Mapping[str, datetime], now: datetime
) -> list[Finding]:
    findings = []
    profile_only = posture.management_mode == "profile_owner"
    for rule, expected, check, severity, withheld in plan.observed:
        if withheld is not None:
            message = f"the privacy contract does not collect {withheld}"
            findings.append(
                _graded(
                    rule, severity, "unknown", expected, None, plan, since, now, message=message
                )
            )
            continue
        status, actual = check(expected, posture, now)
        control = None
        if profile_only and rule in NEEDS_DEVICE_OWNER:
            control = device_owner_control(posture)
            if status != "non_compliant":
                status = "incompatible"
        message = MESSAGES[rule](actual) if status == "non_compliant" and rule in MESSAGES else ""
        findings.append(
            _graded(
                rule,
                severity,
                status,
                expected,
                actual,
                plan,
                since,
                now,
                control=control,
                message=message,
            )
        )
    sdk = posture.sdk
    if sdk is not None:
        for rule, min_sdk, requirement, control in plan.capability:
            if sdk < min_sdk:
                findings.append(
                    _graded(
                        rule,
                        CAPABILITY_SEVERITY,
                        "incompatible",
                        requirement,
                        {"sdk": sdk, "needs_sdk": min_sdk},
                        plan,
                        since,
                        now,
                        control=control,
                        message=f"Android enforces this from API level {min_sdk}",
                    )
                )
    if posture.policy_unapplied:
        already = {finding.rule for finding in findings}
        for path in sorted(set(posture.policy_unapplied)):
            if path in plan.settings and path not in already:
                findings.append(
                    _graded(
                        path,
                        UNAPPLIED_SEVERITY,
                        "non_compliant",
                        plan.settings[path],
                        "not applied",
                        plan,
                        since,
                        now,
                        message="the device reported it could not apply this setting",
                    )
                )
    findings.sort(key=attrgetter("rule"))
    return findings


_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}
_ACTION_RANK = {action: rank for rank, action in enumerate(ACTION_ORDER)}


def _ladder(
    findings: list[Finding], plan: _Plan, now: datetime
) -> tuple[tuple[ActionDue, ...], datetime | None]:
    """The actions due now (each once, naming every rule that brought it, at the worst
    severity and the earliest time) and the next moment a step falls due."""
    due: dict[str, tuple[str, set[str], datetime]] = {}
    upcoming: list[datetime] = []
    for finding in findings:
        if finding.status != "non_compliant" or finding.first_seen is None:
            continue
        for action, offset in plan.steps.get(finding.severity, ()):
            at = finding.first_seen + offset
            if at > now:
                upcoming.append(at)
                continue
            if action in due:
                severity, rules, when = due[action]
                if _RANK[finding.severity] > _RANK[severity]:
                    severity = finding.severity
                rules.add(finding.rule)
                due[action] = (severity, rules, min(when, at))
            else:
                due[action] = (finding.severity, {finding.rule}, at)
    actions = tuple(
        ActionDue(action=action, severity=severity, rules=tuple(sorted(rules)), due_at=when)
        for action, (severity, rules, when) in sorted(
            due.items(), key=lambda item: _ACTION_RANK[item[0]]
        )
    )
    return actions, min(upcoming, default=None)


def _expiry(findings: list[Finding], plan: _Plan, now: datetime) -> datetime | None:
    """When a compliant finding stops complying with time alone: a security patch grows too
    old, or an app's minimum version starts to count."""
    moments: list[datetime | None] = []
    for finding in findings:
        if finding.status != "compliant":
            continue
        if finding.rule == "device.max_security_patch_age_days":
            patched = date.fromisoformat(finding.actual["security_patch"])
            too_old = patched + timedelta(days=plan.settings[finding.rule] + 1)
            moments.append(datetime.combine(too_old, time(), tzinfo=now.tzinfo))
        elif finding.rule == "secure_side.app_versions":
            moments.append(next_version_due(finding.actual, now))
    return min((moment for moment in moments if moment is not None), default=None)


def _overall(findings: list[Finding], now: datetime) -> Overall:
    failing = [f for f in findings if f.status == "non_compliant"]
    if any(f.grace_deadline is None or f.grace_deadline <= now for f in failing):
        return "non_compliant"
    if failing:
        return "in_grace"
    statuses = {f.status for f in findings}
    if "unknown" in statuses:
        return "unknown"
    if "incompatible" in statuses:
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
    plan = _plan(resolved)
    findings = _findings(plan, DevicePosture.lenient(posture), first_seen or {}, now)
    actions, next_step = _ladder(findings, plan, now)
    expiry = _expiry(findings, plan, now)
    moments = [moment for moment in (next_step, expiry) if moment is not None]
    return Evaluation(
        status=_overall(findings, now),
        findings=tuple(findings),
        actions=actions,
        next_change=min(moments, default=None),
    )
