"""Evaluation is deterministic and total: any posture a device can send, any policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from policies import PolicyDocument, ResolvedPolicy, evaluate
from policies.checks import SETTING_OF
from tests.policies.strategies import documents, postures

STATUSES = {"compliant", "non_compliant", "unknown", "incompatible"}
OVERALL = {"compliant", "incompatible", "in_grace", "non_compliant", "unknown"}
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@settings(max_examples=400, deadline=None)
@given(documents(), postures(), st.integers(0, 500))
def test_evaluation_is_total_and_deterministic(
    document: PolicyDocument, posture: Any, hours_ago: int
) -> None:
    policy = ResolvedPolicy.single(document)
    first_seen = {path: NOW - timedelta(hours=hours_ago) for path in policy.settings}

    first = evaluate(policy, posture, now=NOW, first_seen=first_seen)
    again = evaluate(policy, posture, now=NOW, first_seen=first_seen)

    assert first == again
    assert first.status in OVERALL
    assert {finding.status for finding in first.findings} <= STATUSES
    assert all(SETTING_OF.get(f.rule, f.rule) in policy.settings for f in first.findings)
    failing = {f.rule for f in first.findings if f.status == "non_compliant"}
    assert {rule for action in first.actions for rule in action.rules} <= failing
    assert all(action.due_at <= NOW for action in first.actions)
    if first.status == "compliant":
        assert {f.status for f in first.findings} <= {"compliant"}
    if failing:
        assert first.status in {"in_grace", "non_compliant"}


@settings(max_examples=200, deadline=None)
@given(documents(), postures())
def test_the_same_posture_as_a_mapping_or_a_model_evaluates_the_same(
    document: PolicyDocument, posture: Any
) -> None:
    from policies import DevicePosture

    policy = ResolvedPolicy.single(document)
    model = DevicePosture.lenient(posture)
    assert evaluate(policy, posture, now=NOW) == evaluate(policy, model, now=NOW)


def _outcome(evaluation: Any) -> tuple[Any, ...]:
    return (
        evaluation.status,
        tuple((f.rule, f.status) for f in evaluation.findings),
        tuple((action.action, action.rules) for action in evaluation.actions),
    )


@settings(max_examples=300, deadline=None)
@given(documents(), postures(), st.integers(0, 500), st.floats(0, 1))
def test_an_evaluation_stands_until_its_next_change(
    document: PolicyDocument, posture: Any, hours_ago: int, fraction: float
) -> None:
    policy = ResolvedPolicy.single(document)
    first_seen = {path: NOW - timedelta(hours=hours_ago) for path in policy.settings}
    now = evaluate(policy, posture, now=NOW, first_seen=first_seen)
    if now.next_change is None:
        later = NOW + timedelta(days=3650 * fraction)
        assert _outcome(evaluate(policy, posture, now=later, first_seen=first_seen)) == _outcome(
            now
        )
        return
    assert now.next_change > NOW
    before = NOW + (now.next_change - NOW) * fraction
    if before < now.next_change:
        assert _outcome(evaluate(policy, posture, now=before, first_seen=first_seen)) == _outcome(
            now
        )
    at = evaluate(policy, posture, now=now.next_change, first_seen=first_seen)
    assert _outcome(at) != _outcome(now)
