"""Raising a safeguarding referral from the secure side: Tabard's checks before the records
system keeps it. Never commits."""

from __future__ import annotations

from datetime import date
from typing import Any

from mdm_server.auth import repository as staff_repository
from mdm_server.errors import UnprocessableError
from mdm_server.records.filed import RecordsCall
from mdm_server.safeguarding.connector import SafeguardingRecords
from mdm_server.safeguarding.schemas import SafeguardingReferralBody

ADULT_AGE = 18  # Children Act 1989 s105: a child is a person under 18


def age_on(born: date, day: date) -> int:
    """Whole years from `born` to `day`."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _check_age(body: SafeguardingReferralBody, today: date) -> None:
    """A date of birth that contradicts child or adult is refused, so the referral reaches
    the right social care and is not mis-sorted."""
    born = body.date_of_birth
    if born is None:
        return
    if born > today:
        problem = "is in the future: check the date of birth"
    elif body.at_risk == "child" and age_on(born, today) >= ADULT_AGE:
        problem = (
            f"makes them {age_on(born, today)}: a child is under {ADULT_AGE}; raise it for an "
            "adult at risk, or check the date"
        )
    elif body.at_risk == "adult" and age_on(born, today) < ADULT_AGE:
        problem = (
            f"makes them {age_on(born, today)}: anyone under {ADULT_AGE} is a child; raise it "
            "for a child at risk, or check the date"
        )
    else:
        return
    raise UnprocessableError([{"field": "report.date_of_birth", "problem": problem}])


def raise_referral(
    records: SafeguardingRecords, body: SafeguardingReferralBody, call: RecordsCall
) -> dict[str, Any]:
    """Check the referral and have the records system keep it, for the raising officer's
    division; the answer carries its reference."""
    _check_age(body, call.now.date())
    officer = staff_repository.get_user_by_collar(call.session, call.collar_number)
    division = officer.division if officer is not None else None
    reference = records.raise_referral(
        body.model_dump(mode="json", exclude_none=True), division=division, call=call
    )
    return {"reference": reference}
