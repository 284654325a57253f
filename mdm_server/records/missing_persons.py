"""The demo records connector's missing-person cases (the `MissingPersonsRecords` side of
`DemoConnector`), kept in Tabard's own tables in the request's unit of work. Tabard's rules
(who may, what is refused) live in mdm_server/missing_persons; this only keeps what it is
told. Never commits."""

from __future__ import annotations

import uuid
from typing import Any

from mdm_server.records import case_repository
from mdm_server.records.case_models import MissingPersonCase, MissingPersonCaseEntry
from mdm_server.records.cases import Case, CaseEntry, NewCase
from mdm_server.records.filed import RecordsCall


class DemoMissingPersons:
    """Missing-person cases in Tabard's own tables, for the demo connector."""

    def open_case(self, case: NewCase, *, call: RecordsCall) -> None:
        row = MissingPersonCase(
            reference=case.reference,
            surname=case.surname,
            forename=case.forename,
            date_of_birth=case.date_of_birth,
            description=case.description,
            last_seen_at=case.last_seen_at,
            last_seen_location=case.last_seen_location,
            risk=case.risk,
            division=case.division,
            reported_by=call.collar_number,
            opened_at=call.now,
        )
        call.session.add(row)
        call.session.flush()
        self._entry(call, case.reference, "opened", None, {"risk": case.risk})

    def read_case(
        self, reference: str, *, call: RecordsCall, for_update: bool = False
    ) -> Case | None:
        row = case_repository.get_case(call.session, reference, for_update=for_update)
        if row is None:
            return None
        timeline = [
            CaseEntry(
                kind=entry.kind,
                note=entry.note,
                detail=dict(entry.detail),
                by=entry.by,
                at=entry.at,
                transaction_id=str(entry.transaction_id),
            )
            for entry in case_repository.entries_of(call.session, reference)
        ]
        return _case(row, timeline)

    def list_cases(
        self,
        *,
        call: RecordsCall,
        statuses: tuple[str, ...] | None = None,
        officer: str | None = None,
        division: str | None = None,
    ) -> list[Case]:
        rows = case_repository.cases(
            call.session, statuses=statuses, officer=officer, division=division
        )
        return [_case(row, []) for row in rows]

    def open_by_risk(self, *, division: str, call: RecordsCall) -> dict[str, int]:
        return case_repository.open_by_risk(call.session, division=division)

    def add_update(
        self,
        reference: str,
        kind: str,
        note: str,
        detail: dict[str, Any],
        *,
        call: RecordsCall,
    ) -> None:
        changes = {"status": "found"} if kind == "found" else {}
        self._change(call, reference, changes, kind=kind, note=note, detail=detail)

    def regrade(self, reference: str, risk: str, reason: str, *, call: RecordsCall) -> None:
        row = self._row(call, reference)
        detail = {"from": row.risk, "to": risk}
        self._change(call, reference, {"risk": risk}, kind="regraded", note=reason, detail=detail)

    def reassign(
        self, reference: str, collar_number: str, reason: str | None, *, call: RecordsCall
    ) -> None:
        row = self._row(call, reference)
        detail = {"from": row.assigned_to, "to": collar_number}
        changes = {"assigned_to": collar_number}
        self._change(call, reference, changes, kind="assigned", note=reason, detail=detail)

    def add_review(self, reference: str, note: str, *, call: RecordsCall) -> None:
        row = self._row(call, reference)
        changes = {"reviewed_at": call.now}
        detail = {"risk": row.risk}
        self._change(call, reference, changes, kind="review", note=note, detail=detail)

    def close(self, reference: str, outcome: str, reason: str, *, call: RecordsCall) -> None:
        changes = {"status": "closed", "closed_at": call.now, "outcome": outcome}
        detail = {"outcome": outcome}
        self._change(call, reference, changes, kind="closed", note=reason, detail=detail)

    def _row(self, call: RecordsCall, reference: str) -> MissingPersonCase:
        row = case_repository.get_case(call.session, reference, for_update=True)
        assert row is not None  # the caller read it for update
        return row

    def _change(
        self,
        call: RecordsCall,
        reference: str,
        changes: dict[str, Any],
        *,
        kind: str,
        note: str | None,
        detail: dict[str, Any],
    ) -> None:
        row = self._row(call, reference)
        for name, value in changes.items():
            setattr(row, name, value)
        call.session.add(row)
        self._entry(call, reference, kind, note, detail)

    def _entry(
        self,
        call: RecordsCall,
        reference: str,
        kind: str,
        note: str | None,
        detail: dict[str, Any],
    ) -> None:
        call.session.add(
            MissingPersonCaseEntry(
                reference=reference,
                kind=kind,
                note=note,
                detail=dict(detail),
                by=call.collar_number,
                at=call.now,
                transaction_id=uuid.UUID(call.transaction_id),
            )
        )
        call.session.flush()


def _case(row: MissingPersonCase, timeline: list[CaseEntry]) -> Case:
    return Case(
        reference=row.reference,
        surname=row.surname,
        forename=row.forename,
        date_of_birth=row.date_of_birth,
        description=row.description,
        last_seen_at=row.last_seen_at,
        last_seen_location=row.last_seen_location,
        risk=row.risk,
        status=row.status,
        division=row.division,
        reported_by=row.reported_by,
        assigned_to=row.assigned_to,
        opened_at=row.opened_at,
        reviewed_at=row.reviewed_at,
        closed_at=row.closed_at,
        outcome=row.outcome,
        timeline=timeline,
    )
