"""Golden cases: a policy (or layers), a posture and a moment, with the findings and actions
written out by hand in `cases/*.yaml`. See `cases/_bases.yaml` for the named policies and
postures they build on."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from policies import Layer, evaluate, parse_policy, resolve
from policies.compliance import Evaluation, Finding
from policies.layering import ResolvedPolicy

CASES = Path(__file__).parent / "cases"
BASES = yaml.safe_load((CASES / "_bases.yaml").read_text())
CASE_FILES = sorted(path for path in CASES.glob("*.yaml") if not path.name.startswith("_"))
# Compared as "contains": prose that may be reworded around the fact the case pins.
PROSE = {"compensating_control", "message"}


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _policy(reference: str | dict[str, Any]) -> Any:
    return parse_policy(BASES["policies"][reference] if isinstance(reference, str) else reference)


def _resolved(case: dict[str, Any]) -> ResolvedPolicy:
    if "layers" in case:
        layers = [Layer(entry["layer"], _policy(entry["policy"])) for entry in case["layers"]]
        return resolve(layers)
    return ResolvedPolicy.single(_policy(case["policy"]))


def _posture(case: dict[str, Any]) -> Any:
    posture = case.get("posture", {})
    if "posture_base" not in case:
        return posture
    return {**BASES["postures"][case["posture_base"]], **posture}


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _compare_detail(finding: Finding, field: str, wanted: Any) -> None:
    actual = _json(getattr(finding, field))
    if field in PROSE:
        assert actual is not None and wanted in actual, (finding.rule, field, actual)
    elif field in ("first_seen", "grace_deadline") and wanted is not None:
        assert actual == _when(wanted).isoformat(), (finding.rule, field, actual)
    else:
        assert actual == wanted, (finding.rule, field, actual)


def _actions(evaluation: Evaluation) -> list[dict[str, Any]]:
    return [
        {
            "action": action.action,
            "severity": action.severity,
            "rules": list(action.rules),
            "due_at": action.due_at.isoformat(),
        }
        for action in evaluation.actions
    ]


def test_there_are_enough_cases_and_every_android_level_is_covered() -> None:
    assert len(CASE_FILES) >= 40
    used = set()
    for path in CASE_FILES:
        case = yaml.safe_load(path.read_text())
        posture = _posture(case)
        if isinstance(posture, dict):
            used.add(str(posture.get("android_version", ""))[:1])
    assert {"6", "7", "8", "9"} <= used


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda path: path.stem)
def test_golden_case(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    expect = case["expect"]
    first_seen = {rule: _when(at) for rule, at in (case.get("first_seen") or {}).items()}

    evaluation = evaluate(
        _resolved(case), _posture(case), now=_when(case["now"]), first_seen=first_seen
    )

    assert {f.rule: f.status for f in evaluation.findings} == expect["findings"]
    by_rule = {f.rule: f for f in evaluation.findings}
    for rule, fields in (expect.get("details") or {}).items():
        for field, wanted in fields.items():
            _compare_detail(by_rule[rule], field, wanted)
    wanted_actions = [
        {**action, "due_at": _when(action["due_at"]).isoformat()} for action in expect["actions"]
    ]
    assert _actions(evaluation) == wanted_actions
    assert evaluation.status == expect["status"]
