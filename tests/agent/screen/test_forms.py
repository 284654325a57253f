"""OPTIK's forms become the transactions the server expects: the policy's purposes only, the
incident reference where required, dates checked, local times given their zone."""

from __future__ import annotations

from datetime import datetime

import pytest

from device_agent.screen.forms import BY_SLUG, FormError, Rule, rule_for, transaction

RULE = Rule(("INVESTIGATION",), incident_reference_required=False)


class TestTransactions:
    def test_a_report_in_local_time_carries_its_zone(self) -> None:
        form = {
            "purpose": "INVESTIGATION",
            "summary": "Shed broken into",
            "location": "Sample Road",
            "occurred_at": "2026-11-21T02:10",
            "category": "crime",
        }
        body = transaction(BY_SLUG["report"], RULE, form)
        assert body["type"] == "incident_report" and "incident_reference" not in body
        assert datetime.fromisoformat(body["report"]["occurred_at"]).tzinfo is not None
        assert body["report"]["category"] == "crime"

    @pytest.mark.parametrize(
        ("form", "says"),
        [
            ({"purpose": "FUN", "surname": "X"}, "purpose"),
            ({"purpose": "INVESTIGATION"}, "Enter the incident reference"),
            (
                {
                    "purpose": "INVESTIGATION",
                    "incident_reference": "I-1",
                    "surname": "X",
                    "date_of_birth": "13/10/1968",
                },
                "Date of birth must be a date",
            ),
        ],
    )
    def test_what_to_fix_is_said(self, form: dict[str, str], says: str) -> None:
        rule = Rule(("INVESTIGATION",), incident_reference_required=True)
        with pytest.raises(FormError, match=says):
            transaction(BY_SLUG["person"], rule, form)

    def test_a_choice_not_on_the_list_is_refused(self) -> None:
        form = {
            "purpose": "INVESTIGATION",
            "surname": "X",
            "forename": "Y",
            "last_seen_at": "2026-11-21T18:00",
            "last_seen_location": "Park",
            "description": "Tall",
            "risk": "extreme",
        }
        with pytest.raises(FormError, match="Choose the risk"):
            transaction(BY_SLUG["missing"], RULE, form)

    def test_an_incident_lookup_is_its_own_reference(self) -> None:
        body = transaction(
            BY_SLUG["incident"], RULE, {"purpose": "INVESTIGATION", "reference": "INC-1"}
        )
        assert body["incident_reference"] == "INC-1"


class TestRules:
    def test_only_the_types_the_policy_lists_are_allowed(self) -> None:
        policy = {
            "appropriate_use": {
                "transaction_types": {
                    "person_search": {"purposes": ["A", "B"], "incident_reference_required": True}
                }
            }
        }
        assert rule_for(policy, "person_search") == Rule(("A", "B"), True)
        assert rule_for(policy, "vehicle_search") is None
        assert rule_for({}, "person_search") is None


class TestSafeguardingReferral:
    def test_the_form_becomes_a_referral_with_what_was_left_out_left_out(self) -> None:
        form = {
            "purpose": "SAFEGUARDING",
            "at_risk": "child",
            "surname": "Example",
            "forename": "Robin",
            "date_of_birth": "",
            "concerns": "Alone at home at night",
            "people_involved": "",
            "immediate_actions": "Stayed until a neighbour took him in",
            "location": "14 Fictional Lane",
        }
        body = transaction(BY_SLUG["safeguarding"], Rule(("SAFEGUARDING",), False), form)
        assert body == {
            "type": "safeguarding_referral",
            "purpose": "SAFEGUARDING",
            "report": {
                "at_risk": "child",
                "surname": "Example",
                "forename": "Robin",
                "concerns": "Alone at home at night",
                "immediate_actions": "Stayed until a neighbour took him in",
                "location": "14 Fictional Lane",
            },
        }

    def test_someone_neither_child_nor_adult_is_refused(self) -> None:
        form = {"purpose": "SAFEGUARDING", "at_risk": "pet", "surname": "X", "forename": "Y"}
        with pytest.raises(FormError, match="Choose"):
            transaction(BY_SLUG["safeguarding"], Rule(("SAFEGUARDING",), False), form)
