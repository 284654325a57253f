"""The missing-persons unit's work on cases through the records connector: the board, a case
read on its own, regrading, reassigning, reviews and closing; and a supervisor's counts. Every
read and every change is an audit event with the subject keys of the case and the person, so
professional standards find it by reference or by name (docs/missing-persons.md). Never
commits."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.audit.subjects import SubjectKeys, unique
from mdm_server.auth import repository as staff_repository
from mdm_server.auth.roles import Role
from mdm_server.errors import ConflictError, NotFoundError, quoted
from mdm_server.missing_persons import cases
from mdm_server.missing_persons.connector import MissingPersonsRecords
from mdm_server.missing_persons.schemas import (
    Board,
    CaseAssign,
    CaseClose,
    CasePublic,
    CaseRegrade,
    CaseReview,
)
from mdm_server.records.cases import RISKS, Case
from mdm_server.records.filed import RecordsCall
from mdm_server.records.missing_persons import DemoMissingPersons

BOARD_STATUSES = {"open": ("open", "found"), "closed": ("closed",), "all": None}


class Desk:
    """Who works the cases, with what, and when: one per request."""

    def __init__(
        self,
        session: Session,
        *,
        connector: MissingPersonsRecords,
        subjects: SubjectKeys,
        intervals: dict[str, timedelta],
        actor: Actor,
        by: str,
        now: datetime,
    ) -> None:
        self.session = session
        self.connector = connector
        self.subjects = subjects
        self.intervals = intervals
        self.actor = actor
        self.now = now
        self.call = RecordsCall(
            session=session, transaction_id=str(uuid.uuid4()), collar_number=by, now=now
        )

    def _record(self, action: str, detail: dict[str, Any]) -> None:
        detail = {"action_id": self.call.transaction_id, **detail}
        record(
            self.session,
            actor=self.actor,
            action=f"missing_persons.{action}",
            now=self.now,
            target_type="missing_person_case",
            target_id=detail.get("reference"),
            detail=detail,
        )

    def keys_of(self, case: Case) -> list[str]:
        """The case's reference and the person, as audit subject keys."""
        person = self.subjects.person(case.surname, case.forename, case.date_of_birth)
        return [self.subjects.incident(case.reference), *person]

    def board(self, *, status: str = "open") -> Board:
        """The board, audited with every case it showed."""
        found = self.connector.list_cases(call=self.call, statuses=BOARD_STATUSES[status])
        shown = cases.board_order(found)
        rows = [cases.summary(case, self.intervals, now=self.now) for case in shown]
        self._record(
            "board_read",
            {
                "status": status,
                "result_count": len(rows),
                "references": [case.reference for case in shown],
                "subject_keys": unique(key for case in shown for key in self.keys_of(case)),
            },
        )
        return Board(
            cases=rows,
            overdue=sum(row.review_overdue for row in rows),
            review_intervals_minutes={
                risk: int(self.intervals[risk].total_seconds() // 60) for risk in RISKS
            },
        )

    def read(self, reference: str) -> CasePublic:
        """A case with its timeline, audited."""
        case = self._case(reference)
        self._record("case_read", self._about(case))
        return cases.public(case, self.intervals, now=self.now)

    def regrade(self, reference: str, body: CaseRegrade) -> CasePublic:
        case = self._case(reference, for_update=True, open_only=True)
        if case.risk == body.risk:
            raise ConflictError(
                f"{reference} is already graded {body.risk.replace('_', ' ')}: choose another "
                "grade, or add a review to record that the grade stands",
                code="same_risk",
            )
        self.connector.regrade(reference, body.risk, body.reason, call=self.call)
        self._record("regraded", {**self._about(case), "from": case.risk, "to": body.risk})
        return self.read_after(reference)

    def assign(self, reference: str, body: CaseAssign) -> CasePublic:
        case = self._case(reference, for_update=True, open_only=True)
        officer = staff_repository.get_user_by_collar(self.session, body.collar_number)
        if officer is None or officer.role != Role.officer or officer.disabled_at is not None:
            raise NotFoundError(
                f"no serving officer has the collar number {quoted(body.collar_number)}: check "
                "the number",
                code="officer_not_found",
            )
        if case.assigned_to == body.collar_number:
            raise ConflictError(
                f"{reference} is already assigned to {body.collar_number}",
                code="already_assigned",
            )
        self.connector.reassign(reference, body.collar_number, body.reason, call=self.call)
        detail = {**self._about(case), "from": case.assigned_to, "to": body.collar_number}
        self._record("assigned", detail)
        return self.read_after(reference)

    def review(self, reference: str, body: CaseReview) -> CasePublic:
        case = self._case(reference, for_update=True, open_only=True)
        self.connector.add_review(reference, body.note, call=self.call)
        self._record("reviewed", self._about(case))
        return self.read_after(reference)

    def close(self, reference: str, body: CaseClose) -> CasePublic:
        case = self._case(reference, for_update=True, open_only=True)
        self.connector.close(reference, body.outcome, body.reason, call=self.call)
        self._record("closed", {**self._about(case), "outcome": body.outcome})
        return self.read_after(reference)

    def read_after(self, reference: str) -> CasePublic:
        """The case as the change left it (the change's own event covers this read)."""
        case = self.connector.read_case(reference, call=self.call)
        assert case is not None
        return cases.public(case, self.intervals, now=self.now)

    def _about(self, case: Case) -> dict[str, Any]:
        return {
            "reference": case.reference,
            "division": case.division,
            "risk": case.risk,
            "status": case.status,
            "subject_keys": unique(self.keys_of(case)),
        }

    def _case(self, reference: str, *, for_update: bool = False, open_only: bool = False) -> Case:
        case = self.connector.read_case(reference, call=self.call, for_update=for_update)
        if case is None:
            raise NotFoundError(
                f"no missing-person case has the reference {quoted(reference)}: use the "
                "reference on the board",
                code="case_not_found",
            )
        if open_only and case.status == "closed":
            raise ConflictError(
                f"{reference} was closed on {case.closed_at:%Y-%m-%d %H:%M:%S %Z}; a closed case "
                "does not change",
                code="case_closed",
            )
        return case


def open_by_risk(
    session: Session,
    *,
    division: str,
    connector: MissingPersonsRecords | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """How many of the division's cases are open, by risk (every grade, zeros included): counts
    only, never names. Through the demo connector unless another is given."""
    records = connector if connector is not None else DemoMissingPersons()
    call = RecordsCall(
        session=session,
        transaction_id=str(uuid.uuid4()),
        collar_number="",
        now=now or datetime.min,
        division=division,
    )
    counts = records.open_by_risk(division=division, call=call)
    return {risk: int(counts.get(risk, 0)) for risk in RISKS}
