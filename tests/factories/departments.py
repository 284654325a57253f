"""Department work written straight through a records connector, as a filing would leave it:
a missing person's case and a safeguarding referral, for tests that need them in place rather
than filed from a device. All of it invented."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlmodel import Session

from mdm_server.missing_persons.connector import MissingPersonsRecords
from mdm_server.records.cases import NewCase
from mdm_server.records.filed import RecordsCall
from mdm_server.safeguarding.connector import SafeguardingRecords


def open_case(
    records: MissingPersonsRecords,
    session: Session,
    *,
    division: str,
    now: datetime,
    risk: str = "medium",
    surname: str = "Example",
) -> str:
    """A missing person's case opened in `division`; its reference."""
    reference = f"MISPER-{uuid.uuid4().hex[:8].upper()}"
    case = NewCase(
        reference=reference,
        surname=surname,
        forename="Robin",
        date_of_birth=None,
        description="Invented for a test",
        last_seen_at=now - timedelta(hours=2),
        last_seen_location="Example Street, Testbury",
        risk=risk,
        division=division,
    )
    records.open_case(case, call=RecordsCall(session, str(uuid.uuid4()), "4021", now, division))
    return reference


def raise_referral(
    records: SafeguardingRecords,
    session: Session,
    *,
    division: str,
    at: datetime,
    surname: str = "Example",
) -> str:
    """A safeguarding referral for a child raised in `division` at `at`; its reference."""
    referral = {"at_risk": "child", "surname": surname, "forename": "Robin"}
    call = RecordsCall(session, str(uuid.uuid4()), "4021", at, division)
    return records.raise_referral(referral, division=division, call=call)
