"""Missing-person cases from the secure side and the unit's desk, for tests."""

from __future__ import annotations

from typing import Any

from tests.factories.reports import MISSING_PERSON_REPORT, TYPES
from tests.server.test_secure import POLICY

CASE_TYPES = {
    **TYPES,
    "missing_person_report": {"purposes": ["MISSING_PERSON"]},
    "missing_person_update": {"purposes": ["MISSING_PERSON"]},
    "missing_person_cases": {"purposes": ["MISSING_PERSON"]},
}
CASES_POLICY: dict[str, Any] = {
    **POLICY,
    "appropriate_use": {**POLICY["appropriate_use"], "transaction_types": CASE_TYPES},  # type: ignore[dict-item]
}


def registration(risk: str = "medium", **fields: Any) -> dict[str, Any]:
    report = {**MISSING_PERSON_REPORT["report"], "risk": risk, **fields}  # type: ignore[dict-item]
    return {**MISSING_PERSON_REPORT, "report": report}


def case_update(reference: str, kind: str = "sighting", **fields: Any) -> dict[str, Any]:
    body = {"reference": reference, "kind": kind, "note": "Seen near the bus station.", **fields}
    return {"type": "missing_person_update", "purpose": "MISSING_PERSON", "update": body}


def my_cases(reference: str | None = None) -> dict[str, Any]:
    query = {"reference": reference} if reference else {}
    return {"type": "missing_person_cases", "purpose": "MISSING_PERSON", "query": query}
