"""Missing-person cases from the secure side: a registration opens a case; an officer adds
sightings, welfare checks and word that the person is found to a case they reported or are
assigned, and reads only those cases. Called inside the transaction that carries them, which
records the audit event (mdm_server/secure/transactions.py). Never commits."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from mdm_server.errors import ConflictError, NotFoundError, quoted
from mdm_server.missing_persons.connector import MissingPersonsRecords
from mdm_server.missing_persons.schemas import MissingPersonCasesQuery, MissingPersonUpdateBody
from mdm_server.records.cases import Case, NewCase
from mdm_server.records.filed import RecordsCall


def open_case(
    connector: MissingPersonsRecords, reference: str, report: dict[str, Any], call: RecordsCall
) -> None:
    """Open the case a missing-person registration (`report`, as filed) asks for, in the
    reporting officer's division."""
    born = report.get("date_of_birth")
    connector.open_case(
        NewCase(
            reference=reference,
            surname=report["surname"],
            forename=report["forename"],
            date_of_birth=date.fromisoformat(born) if born else None,
            description=report["description"],
            last_seen_at=datetime.fromisoformat(report["last_seen_at"]),
            last_seen_location=report["last_seen_location"],
            risk=report["risk"],
            division=call.division,
        ),
        call=call,
    )


def update(
    connector: MissingPersonsRecords, body: MissingPersonUpdateBody, call: RecordsCall
) -> dict[str, Any]:
    """Add the officer's update to the case's timeline; `found` marks the case found."""
    case = _own_case(connector, body.reference, call, for_update=True)
    if case.status != "open":
        raise ConflictError(
            f"{case.reference} is {case.status}: the missing-persons unit has it now; tell "
            "them directly",
            code=f"case_{case.status}",
        )
    detail: dict[str, Any] = {}
    if body.location is not None:
        detail["location"] = body.location
    if body.seen_at is not None:
        detail["seen_at"] = body.seen_at.isoformat()
    connector.add_update(body.reference, body.kind, body.note, detail, call=call)
    return {
        "reference": case.reference,
        "kind": body.kind,
        "status": "found" if body.kind == "found" else case.status,
    }


def cases(
    connector: MissingPersonsRecords, query: MissingPersonCasesQuery, call: RecordsCall
) -> dict[str, Any]:
    """One of the officer's cases with its timeline, or all of them in short."""
    if query.reference is not None:
        case = _own_case(connector, query.reference, call)
        return {"case": shown(case, timeline=True), "found": True}
    own = connector.list_cases(call=call, officer=call.collar_number)
    return {"cases": [shown(case) for case in own], "found": bool(own)}


def shown(case: Case, *, timeline: bool = False) -> dict[str, Any]:
    """A case as the officer's device is shown it (JSON)."""
    view: dict[str, Any] = {
        "reference": case.reference,
        "surname": case.surname,
        "forename": case.forename,
        "risk": case.risk,
        "status": case.status,
        "last_seen_at": case.last_seen_at.isoformat(),
        "last_seen_location": case.last_seen_location,
        "reported_by": case.reported_by,
        "assigned_to": case.assigned_to,
        "opened_at": case.opened_at.isoformat(),
    }
    if timeline:
        view["description"] = case.description
        view["timeline"] = [
            {"kind": entry.kind, "note": entry.note, "by": entry.by, "at": entry.at.isoformat()}
            for entry in case.timeline
            if entry.kind in ("opened", "sighting", "welfare_check", "found", "assigned", "closed")
        ]
    return view


def _own_case(
    connector: MissingPersonsRecords, reference: str, call: RecordsCall, *, for_update: bool = False
) -> Case:
    """The case, if the officer reported it or is assigned it. Any other answers as unknown,
    so an officer learns nothing of cases that are not theirs."""
    case = connector.read_case(reference, call=call, for_update=for_update)
    if case is None or call.collar_number not in (case.reported_by, case.assigned_to):
        raise NotFoundError(
            f"no case you reported or are assigned has the reference {quoted(reference)}: "
            "list your cases to see their references",
            code="case_not_found",
        )
    return case
