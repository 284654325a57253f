"""The records connector: what answers police transactions once they are recorded. Real
systems (PNC, the force's records and incident systems) plug in behind `RecordsConnector`;
`DemoConnector` ships for demonstrations, training and tests, and answers from deterministic
synthetic people, vehicles and incidents, and keeps the reports officers file in Tabard's own
tables (mdm_server/records) so they can be read back, updated and annotated. None of it is real
data: the same query always gives the same invented answer."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any, Protocol

from mdm_server.geo.maps import MapSource
from mdm_server.missing_persons.connector import MissingPersonsRecords
from mdm_server.records import demo_store
from mdm_server.records.filed import RecordsCall, Report
from mdm_server.records.missing_persons import DemoMissingPersons
from mdm_server.records.safeguarding_demo import DemoSafeguarding
from mdm_server.safeguarding.connector import SafeguardingRecords
from mdm_server.secure.transaction_schemas import IncidentQuery, PersonQuery, VehicleQuery


class RecordsUnavailableError(RuntimeError):
    """The records system could not answer (down, timed out)."""


class RecordsConnector(MissingPersonsRecords, SafeguardingRecords, Protocol):
    name: str

    def search_person(self, query: PersonQuery) -> list[dict[str, Any]]:
        """People matching the query, best match first."""
        ...

    def search_vehicle(self, query: VehicleQuery) -> list[dict[str, Any]]:
        """The vehicle with that registration mark, if known."""
        ...

    def lookup_incident(self, query: IncidentQuery) -> dict[str, Any] | None:
        """The incident with that reference, if it exists."""
        ...

    def submit(self, kind: str, report: dict[str, Any], *, call: RecordsCall) -> str:
        """File a report; returns its reference in the records system. A witness statement's
        `report` carries `signature` (strokes, pad size, `signed_at`) and `signature_digest`."""
        ...

    def filed_by(self, transaction_id: str, *, call: RecordsCall) -> Report | None:
        """The report a transaction filed, if it filed one: how a report sent again from a
        device's drafts (with the same `draft_id`) is found instead of filed twice."""
        ...

    def read_report(
        self, reference: str, *, call: RecordsCall, for_update: bool = False
    ) -> Report | None:
        """A filed report as it stands, with its history and annotations, if it exists;
        `for_update` holds it against other changes until the unit of work ends, where the
        records system can."""
        ...

    def update_report(
        self,
        reference: str,
        fields: dict[str, Any],
        *,
        changed: list[str],
        reason: str,
        call: RecordsCall,
    ) -> None:
        """Make `fields` (the whole report) its next version, with who, when and why."""
        ...

    def annotate_report(self, reference: str, note: str, *, call: RecordsCall) -> None:
        """Keep a note beside a report, with who and when."""
        ...


_FORENAMES = ("Alex", "Sam", "Jordan", "Robin", "Casey", "Morgan", "Jamie", "Taylor", "Rowan")
_STREETS = ("Example Street", "Sample Road", "Fictional Lane", "Placeholder Close", "Demo Way")
_TOWNS = ("Testbury", "Mockton", "Synthfield", "Fakesley")
_MAKES = (("Vauxhall", "Corsa"), ("Ford", "Fiesta"), ("Volkswagen", "Golf"), ("Nissan", "Qashqai"))
_COLOURS = ("silver", "black", "blue", "red", "white", "grey")
_WARNINGS = ("none", "none", "none", "violence", "weapons", "drugs")
_PREFIXES = {
    "incident_report": "INC",
    "missing_person_report": "MISPER",
    "witness_statement": "WS",
    "stop_and_search": "SS",
}
_INCIDENT_TYPES = ("burglary", "road traffic collision", "concern for welfare", "theft", "assault")


def _seed(*parts: object) -> bytes:
    return hashlib.sha256("|".join(str(part).lower() for part in parts).encode()).digest()


def _pick(options: tuple[Any, ...], seed: bytes, index: int) -> Any:
    return options[seed[index] % len(options)]


class DemoConnector(DemoMissingPersons, DemoSafeguarding):
    """Deterministic synthetic records; clearly fictional, never real people. Filed reports
    are placed on the division maps `maps` holds (the shipped demo maps by default)."""

    name = "demo"
    maps = MapSource()  # the shipped demo maps, unless a force's are given

    def __init__(self, maps: MapSource | None = None) -> None:
        if maps is not None:
            self.maps = maps

    def search_person(self, query: PersonQuery) -> list[dict[str, Any]]:
        seed = _seed("person", query.surname, query.forename or "", query.date_of_birth or "")
        people = []
        for index in range(seed[0] % 4):  # 0 to 3 matches
            person_seed = _seed(seed.hex(), index)
            born = query.date_of_birth or date(1950, 1, 1) + timedelta(
                days=int.from_bytes(person_seed[1:4], "big") % 20_000
            )
            people.append(
                {
                    "person_id": f"DEMO-P-{person_seed[:4].hex().upper()}",
                    "surname": query.surname.upper(),
                    "forename": (query.forename or _pick(_FORENAMES, person_seed, 5)).upper(),
                    "date_of_birth": born.isoformat(),
                    "address": f"{1 + person_seed[6] % 120} {_pick(_STREETS, person_seed, 7)}, "
                    f"{_pick(_TOWNS, person_seed, 8)}",
                    "warning_markers": [
                        m for m in [_pick(_WARNINGS, person_seed, 9)] if m != "none"
                    ],
                    "wanted": person_seed[10] % 17 == 0,
                    "synthetic": True,
                }
            )
        return people

    def search_vehicle(self, query: VehicleQuery) -> list[dict[str, Any]]:
        registration = query.registration.replace(" ", "").upper()
        seed = _seed("vehicle", registration)
        if seed[0] % 10 == 0:
            return []  # not on record
        make, model = _pick(_MAKES, seed, 1)
        return [
            {
                "registration": registration,
                "make": make,
                "model": model,
                "colour": _pick(_COLOURS, seed, 2),
                "year": 2005 + seed[3] % 20,
                "keeper": f"{_pick(_FORENAMES, seed, 4).upper()} DEMO-KEEPER",
                "insured": seed[5] % 8 != 0,
                "mot_valid": seed[6] % 6 != 0,
                "reported_stolen": seed[7] % 25 == 0,
                "synthetic": True,
            }
        ]

    def lookup_incident(self, query: IncidentQuery) -> dict[str, Any] | None:
        seed = _seed("incident", query.reference)
        if seed[0] % 12 == 0:
            return None
        return {
            "reference": query.reference,
            "type": _pick(_INCIDENT_TYPES, seed, 1),
            "status": ("open", "open", "closed")[seed[2] % 3],
            "location": f"{_pick(_STREETS, seed, 3)}, {_pick(_TOWNS, seed, 4)}",
            "priority": 1 + seed[5] % 4,
            "synthetic": True,
        }

    def submit(self, kind: str, report: dict[str, Any], *, call: RecordsCall) -> str:
        prefix = _PREFIXES.get(kind, "RPT")
        reference = f"{prefix}-DEMO-{_seed(kind, call.transaction_id).hex()[:8].upper()}"
        demo_store.file_report(call, reference=reference, kind=kind, report=report, maps=self.maps)
        return reference

    def filed_by(self, transaction_id: str, *, call: RecordsCall) -> Report | None:
        return demo_store.filed_by(call, transaction_id)

    def read_report(
        self, reference: str, *, call: RecordsCall, for_update: bool = False
    ) -> Report | None:
        return demo_store.read_report(call, reference, for_update=for_update)

    def update_report(
        self,
        reference: str,
        fields: dict[str, Any],
        *,
        changed: list[str],
        reason: str,
        call: RecordsCall,
    ) -> None:
        demo_store.update_report(
            call, reference, fields, changed=changed, reason=reason, maps=self.maps
        )

    def annotate_report(self, reference: str, note: str, *, call: RecordsCall) -> None:
        demo_store.annotate_report(call, reference, note)
