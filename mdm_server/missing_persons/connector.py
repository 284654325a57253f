"""What the records system behind the connector does with missing-person cases. Real systems
(the force's missing-persons system, COMPACT and the like) plug in here as part of
`RecordsConnector`; the demo connector keeps cases in Tabard's own tables
(mdm_server/records/missing_persons.py). Tabard's rules are in this package's service, the same
whichever system answers."""

from __future__ import annotations

from typing import Any, Protocol

from mdm_server.records.cases import Case, NewCase
from mdm_server.records.filed import RecordsCall


class MissingPersonsRecords(Protocol):
    def open_case(self, case: NewCase, *, call: RecordsCall) -> None:
        """Open a case for a missing-person registration just filed, reported by the caller."""
        ...

    def read_case(
        self, reference: str, *, call: RecordsCall, for_update: bool = False
    ) -> Case | None:
        """A case with its timeline, if it exists; `for_update` holds it until the unit of
        work ends, where the records system can."""
        ...

    def list_cases(
        self,
        *,
        call: RecordsCall,
        statuses: tuple[str, ...] | None = None,
        officer: str | None = None,
        division: str | None = None,
    ) -> list[Case]:
        """Cases (without timelines): in these statuses, reported by or assigned to `officer`,
        in `division`; each filter only when given."""
        ...

    def open_by_risk(self, *, division: str, call: RecordsCall) -> dict[str, int]:
        """How many of the division's cases are open, by risk (counts only)."""
        ...

    def add_update(
        self, reference: str, kind: str, note: str, detail: dict[str, Any], *, call: RecordsCall
    ) -> None:
        """An officer's sighting, welfare check or report that the person is found; `found`
        marks the case found until the unit closes it."""
        ...

    def regrade(self, reference: str, risk: str, reason: str, *, call: RecordsCall) -> None:
        """Grade the case's risk anew, with the reason."""
        ...

    def reassign(
        self, reference: str, collar_number: str, reason: str | None, *, call: RecordsCall
    ) -> None:
        """Give the case to the officer with this collar number."""
        ...

    def add_review(self, reference: str, note: str, *, call: RecordsCall) -> None:
        """Record the unit's review of the case; the next one falls due by its risk."""
        ...

    def close(self, reference: str, outcome: str, reason: str, *, call: RecordsCall) -> None:
        """Close the case (`found`, or `withdrawn` when the report is withdrawn)."""
        ...
