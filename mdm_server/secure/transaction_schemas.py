"""API shapes of police transactions (DESIGN.md flow 7, docs/device-protocol.md §6.3): one
shape per type, told apart by `type`, and the answer they all share."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from mdm_server.missing_persons.schemas import MissingPersonCasesQuery, MissingPersonUpdateBody
from mdm_server.safeguarding.schemas import SafeguardingReferralBody
from mdm_server.secure.report_schemas import (
    IncidentCategory,
    IncidentReportUpdateBody,
    ReportQuery,
    WitnessSignature,
    WitnessStatementAnnotationBody,
)
from mdm_server.secure.schemas import (
    IncidentReference,
    Name,
    Registration,
    ShortText,
    Strict,
    Text,
)
from policies.document import PurposeCode


class PersonQuery(Strict):
    surname: Name
    forename: Name | None = None
    date_of_birth: date | None = None


class VehicleQuery(Strict):
    registration: Registration


class IncidentQuery(Strict):
    reference: IncidentReference


class Located(Strict):
    """Where it happened, where the device knows (its location fix): both or neither. Without
    them the records system places the report's location text (docs/map.md)."""

    latitude: float | None = Field(default=None, ge=-90, le=90, description="WGS 84 degrees.")
    longitude: float | None = Field(default=None, ge=-180, le=180, description="WGS 84 degrees.")

    @model_validator(mode="after")
    def _both_or_neither(self) -> Located:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give latitude and longitude together, or neither")
        return self


class IncidentReportBody(Located):
    summary: Text
    location: ShortText
    occurred_at: datetime
    category: IncidentCategory = "other"


class MissingPersonReportBody(Located):
    """`latitude` and `longitude`, where given, are where the person was last seen."""

    surname: Name
    forename: Name
    date_of_birth: date | None = None
    last_seen_at: datetime
    last_seen_location: ShortText
    description: Text
    risk: Literal["no_apparent_risk", "low", "medium", "high"]


class WitnessStatementBody(Strict):
    """A statement as the witness read and signed it on the screen. The signature is required:
    UK forces' electronic witness statements are signed (docs/device-protocol.md §6.3)."""

    witness_surname: Name
    witness_forename: Name
    statement: Text
    signature: WitnessSignature | None = Field(
        default=None, description="The witness's signature, made with a finger on the screen."
    )

    @model_validator(mode="after")
    def _signed(self) -> WitnessStatementBody:
        if self.signature is None:
            raise ValueError(
                "a witness statement needs the witness's signature: let the witness read the "
                "statement and sign it on the screen"
            )
        return self


class StopAndSearchBody(Located):
    subject_surname: Name | None = None
    subject_forename: Name | None = None
    grounds: ShortText
    object_of_search: Literal[
        "drugs", "offensive_weapon", "stolen_property", "going_equipped", "firearm", "other"
    ]
    location: ShortText
    outcome: Literal["no_further_action", "arrest", "community_resolution", "penalty", "other"]


class _Transaction(Strict):
    purpose: PurposeCode
    incident_reference: IncidentReference | None = None


class PersonSearch(_Transaction):
    type: Literal["person_search"]
    query: PersonQuery


class VehicleSearch(_Transaction):
    type: Literal["vehicle_search"]
    query: VehicleQuery


class IncidentLookup(_Transaction):
    type: Literal["incident_lookup"]
    query: IncidentQuery


class _Filing(_Transaction):
    draft_id: uuid.UUID | None = Field(
        default=None,
        description="A report kept as a draft on the device and sent later: the id it was "
        "given there. It becomes the transaction's id, and sending it again answers with the "
        "report already filed instead of filing it twice.",
    )


class IncidentReport(_Filing):
    type: Literal["incident_report"]
    report: IncidentReportBody


class MissingPersonReport(_Filing):
    type: Literal["missing_person_report"]
    report: MissingPersonReportBody


class WitnessStatement(_Filing):
    type: Literal["witness_statement"]
    report: WitnessStatementBody


class StopAndSearch(_Filing):
    type: Literal["stop_and_search"]
    report: StopAndSearchBody


class SafeguardingReferral(_Filing):
    type: Literal["safeguarding_referral"]
    report: SafeguardingReferralBody


class IncidentReportUpdate(_Transaction):
    type: Literal["incident_report_update"]
    update: IncidentReportUpdateBody


class WitnessStatementAnnotation(_Transaction):
    type: Literal["witness_statement_annotation"]
    annotation: WitnessStatementAnnotationBody


class ReportLookup(_Transaction):
    type: Literal["report_lookup"]
    query: ReportQuery


class MissingPersonUpdate(_Transaction):
    type: Literal["missing_person_update"]
    update: MissingPersonUpdateBody


class MissingPersonCases(_Transaction):
    type: Literal["missing_person_cases"]
    query: MissingPersonCasesQuery


TransactionRequest = Annotated[
    PersonSearch
    | VehicleSearch
    | IncidentLookup
    | IncidentReport
    | MissingPersonReport
    | WitnessStatement
    | StopAndSearch
    | SafeguardingReferral
    | IncidentReportUpdate
    | WitnessStatementAnnotation
    | ReportLookup
    | MissingPersonUpdate
    | MissingPersonCases,
    Field(discriminator="type"),
]


class JustificationAsked(BaseModel):
    """The transaction was drawn in the random sample: the officer is asked why."""

    id: uuid.UUID
    question: str


class TransactionResult(BaseModel):
    transaction_id: uuid.UUID = Field(description="Its id, as the audit event records it.")
    type: str
    recorded_at: datetime
    result: dict[str, Any]
    justification: JustificationAsked | None = Field(
        default=None,
        description="Set when the transaction is in the random sample asked for further "
        "justification: answer it with POST /api/v1/device/justifications/{id}.",
    )
