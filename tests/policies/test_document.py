"""Policy documents: located errors, the JSON Schema, and the shipped examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from policies import PolicyError, json_schema, parse_policy
from policies.layering import STRATEGIES

EXAMPLES = Path(__file__).parents[2] / "examples" / "policies"


@pytest.mark.parametrize(
    ("document", "errors"),
    [
        (
            {"name": "x", "secure_side": {"offline_grace_hours": 100}},
            ["secure_side.offline_grace_hours: must be at most 72"],
        ),
        (
            {"name": "x", "device": {"passcode": {"min_length": 2}}},
            ["device.passcode.min_length: must be at least 4"],
        ),
        (
            {"name": "x", "device": {"usb_debuging_allowed": False}},
            ["device.usb_debuging_allowed: is not a setting Tabard knows; check the spelling"],
        ),
        (
            {
                "name": "x",
                "secure_side": {
                    "allowed_apps": [{"package": "uk.police.pnc"}, {"package": "1bad"}]
                },
            },
            [
                "secure_side.allowed_apps[1].package: must be an Android package name such as "
                "uk.police.pnc, not '1bad'"
            ],
        ),
        (
            {
                "name": "x",
                "secure_side": {"allowed_apps": [{"package": "a.b"}, {"package": "a.b"}]},
            },
            ["secure_side.allowed_apps: lists a.b more than once"],
        ),
        (
            {
                "name": "x",
                "enforcement": {"ladders": {"high": [{"action": "wipe_device", "after_hours": 0}]}},
            },
            ["enforcement.ladders.high[0]: a full wipe is never automatic; use wipe_secure_side"],
        ),
        (
            {
                "name": "x",
                "enforcement": {
                    "ladders": {
                        "high": [
                            {"action": "notify", "after_hours": 5},
                            {"action": "lock_device", "after_hours": 1},
                        ]
                    }
                },
            },
            ["enforcement.ladders.high: steps must be in order of after_hours"],
        ),
        (
            {"name": "x", "enforcement": {"ladders": {"severe": []}}},
            ["enforcement.ladders.severe: is not a setting Tabard knows; check the spelling"],
        ),
        (
            {"name": "x", "override": ["secure_side.camera_allowed"]},
            ["override: lists secure_side.camera_allowed, which this layer does not set"],
        ),
        (
            {"name": "x", "override": "yes"},
            ["override: must be true, false, or a list of settings (dotted paths)"],
        ),
        (
            {
                "name": "x",
                "appropriate_use": {"transaction_types": {"teleport": {"purposes": ["X"]}}},
            },
            [
                "appropriate_use.transaction_types.teleport: must be one of 'person_search', "
                "'vehicle_search', 'incident_lookup', 'incident_report', 'missing_person_report', "
                "'witness_statement', 'stop_and_search', 'incident_report_update', "
                "'witness_statement_annotation', 'report_lookup', 'missing_person_update', "
                "'missing_person_cases' or 'safeguarding_referral'"
            ],
        ),
        (
            {
                "name": "x",
                "appropriate_use": {"transaction_types": {"person_search": {"purposes": []}}},
            },
            ["appropriate_use.transaction_types.person_search.purposes: must list at least 1"],
        ),
        (
            {"name": "x", "schema_version": 2},
            ["schema_version: must be one of 1"],
        ),
        ({"device": {}}, ["name: is required"]),
        (
            ["not", "a", "mapping"],
            ["(document): must be a mapping of settings, not a list or a value"],
        ),
    ],
)
def test_a_bad_document_gets_located_errors(document: Any, errors: list[str]) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy(document)
    assert raised.value.errors == errors


def test_every_error_is_reported_not_only_the_first() -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy(
            {"name": "Bad Name", "device": {"passcode": {"quality": "strong", "min_length": "six"}}}
        )
    located = [error.split(":")[0] for error in raised.value.errors]
    assert located == ["name", "device.passcode.min_length", "device.passcode.quality"]


def test_the_json_schema_describes_every_section() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["name"]
    properties = schema["properties"]
    assert isinstance(properties, dict)
    assert {"device", "secure_side", "personal_side", "appropriate_use", "enforcement"} <= set(
        properties
    )
    secure = schema["$defs"]["SecureSidePolicy"]["properties"]  # type: ignore[index]
    grace = secure["offline_grace_hours"]["anyOf"][0]
    assert grace == {"maximum": 72, "minimum": 0, "type": "integer"}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_examples_are_valid(path: Path) -> None:
    document = parse_policy(yaml.safe_load(path.read_text()))
    assert document.name


def test_the_baseline_example_sets_every_section() -> None:
    from policies.layering import flatten

    baseline = parse_policy(yaml.safe_load((EXAMPLES / "fleet-baseline.yaml").read_text()))
    sections = {path.split(".")[0] for path in flatten(baseline)}
    assert sections == {path.split(".")[0] for path in STRATEGIES}


def test_the_guide_documents_every_setting() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "policies.md").read_text()
    missing = [
        path
        for path in STRATEGIES
        if f"`{path}`" not in guide and not path.startswith("appropriate_use.rules.")
    ]
    rules = [
        path.removeprefix("appropriate_use.rules.")
        for path in STRATEGIES
        if path.startswith("appropriate_use.rules.")
    ]
    assert missing == []
    assert [rule for rule in rules if f"`{rule}" not in guide] == []
