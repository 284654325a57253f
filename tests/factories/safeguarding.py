"""Safeguarding referrals for tests: the transaction an officer sends, and the MASH team's
calls. All of it invented."""

from __future__ import annotations

from typing import Any

QUEUE = "/api/v1/safeguarding/referrals"
COUNTS = "/api/v1/safeguarding/counts"


def referral(
    *,
    at_risk: str = "child",
    surname: str = "Example",
    forename: str = "Robin",
    born: str | None = "2015-03-02",
    **changes: Any,
) -> dict[str, Any]:
    """A `safeguarding_referral` transaction, as the officer's device sends it."""
    report: dict[str, Any] = {
        "at_risk": at_risk,
        "surname": surname,
        "forename": forename,
        "concerns": "Child alone at home late at night; no food in the house; says this is usual",
        "people_involved": "Mother (DEMO-PARENT), not at home; older sibling, 15",
        "immediate_actions": "Stayed until a neighbour took the child in; ambulance not needed",
        "location": "14 Fictional Lane, Testbury",
    }
    if born is not None:
        report["date_of_birth"] = born
    report.update(changes)
    return {"type": "safeguarding_referral", "purpose": "SAFEGUARDING", "report": report}


def rating(value: str = "red", reason: str = "Young child alone overnight") -> dict[str, str]:
    return {"rating": value, "reason": reason}


def decision(
    value: str = "childrens_social_care", reason: str = "Neglect concerns; strategy discussion"
) -> dict[str, str]:
    return {"decision": value, "reason": reason}
