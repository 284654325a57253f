"""The secure side's app rules beyond the golden cases: when a minimum version starts to count,
what a document may not say, and that app versions never leave the personal side."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from policies import evaluate, parse_policy
from policies.errors import PolicyError
from policies.posture import within_contract

MONDAY = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _policy(*apps: dict[str, object]) -> object:
    return parse_policy({"name": "apps", "secure_side": {"allowed_apps": list(apps)}})


def test_the_day_a_minimum_starts_to_count_is_when_the_evaluation_next_changes() -> None:
    policy = _policy(
        {"package": "uk.police.pnc", "min_version_code": 42, "min_version_from": "2026-12-14"},
        {"package": "uk.police.forms", "min_version_code": 9, "min_version_from": "2026-12-10"},
    )
    posture = {
        "apps": {"work": ["uk.police.pnc", "uk.police.forms"]},
        "app_versions": {"work": {"uk.police.pnc": 41, "uk.police.forms": 9}},
    }

    evaluation = evaluate(policy, posture, now=MONDAY)  # type: ignore[arg-type]

    assert evaluation.status == "compliant"
    # Only PNC is behind, so only its day matters, not the forms app's earlier one.
    assert evaluation.next_change == datetime(2026, 12, 14, tzinfo=UTC)
    assert evaluate(policy, posture, now=evaluation.next_change).status == "non_compliant"  # type: ignore[arg-type]


def test_an_app_at_its_minimum_or_newer_complies_and_changes_nothing_later() -> None:
    policy = _policy({"package": "uk.police.pnc", "min_version_code": 42})
    for installed in (42, 43):
        posture = {
            "apps": {"work": ["uk.police.pnc"]},
            "app_versions": {"work": {"uk.police.pnc": installed}},
        }
        evaluation = evaluate(policy, posture, now=MONDAY)  # type: ignore[arg-type]
        assert evaluation.status == "compliant"
        assert [(f.rule, f.actual) for f in evaluation.findings][-1] == (
            "secure_side.app_versions",
            [],
        )
        assert evaluation.next_change is None


@pytest.mark.parametrize(
    ("secure_side", "says"),
    [
        (
            {"allowed_apps": [{"package": "uk.police.pnc"}], "blocked_apps": ["uk.police.pnc"]},
            "uk.police.pnc: both in allowed_apps and in blocked_apps",
        ),
        (
            {"allowed_apps": [{"package": "uk.police.pnc", "min_version_from": "2026-12-14"}]},
            "min_version_from needs min_version_code",
        ),
        (
            {"allowed_apps": [{"package": "uk.police.pnc", "assignment": "forced"}]},
            "assignment",
        ),
        (
            {"allowed_apps": [{"package": "uk.police.pnc", "min_version_code": 0}]},
            "min_version_code",
        ),
    ],
)
def test_a_document_that_contradicts_itself_is_refused_saying_where(
    secure_side: dict[str, object], says: str
) -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policy({"name": "apps", "secure_side": secure_side})
    assert says in str(refused.value)


@pytest.mark.parametrize(
    "contract", [None, ["model", "apps.personal"], ["model"]], ids=["none", "personal", "model"]
)
def test_versions_of_the_officers_own_apps_are_never_kept(contract: list[str] | None) -> None:
    report = {
        "apps": {"personal": ["com.whatsapp"], "work": ["uk.police.pnc"]},
        "app_versions": {"personal": {"com.whatsapp": 231}, "work": {"uk.police.pnc": 42}},
    }

    kept = within_contract(report, contract)

    assert kept["app_versions"] == {"work": {"uk.police.pnc": 42}}
    assert ("personal" in kept["apps"]) == (contract is None or "apps.personal" in contract)
    assert report["app_versions"]["personal"] == {"com.whatsapp": 231}  # the input is untouched
