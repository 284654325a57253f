"""API shapes for the directory, flags and their review, and justifications."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from mdm_server.secure.schemas import Name, Registration
from mdm_server.validation import CollarNumber

MAX_SHIFT = timedelta(hours=24)
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=4000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Subject(Strict):
    """A person (surname and forename, with a date of birth when known) or a vehicle."""

    surname: Name | None = None
    forename: Name | None = None
    date_of_birth: date | None = None
    registration: Registration | None = None

    @model_validator(mode="after")
    def _person_or_vehicle(self) -> Subject:
        person = self.surname is not None or self.forename is not None
        if person == (self.registration is not None):
            raise ValueError("give a person (surname and forename) or a registration, not both")
        if person and (self.surname is None or self.forename is None):
            raise ValueError("a person needs both surname and forename")
        if self.date_of_birth is not None and not person:
            raise ValueError("date_of_birth is for a person")
        return self


class Shift(Strict):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _in_order(self) -> Shift:
        if not self.start < self.end <= self.start + MAX_SHIFT:
            raise ValueError("end must be after start, and a shift at most 24 hours")
        return self


class OfficerEntry(Strict):
    own: list[Subject] = Field(default_factory=list, max_length=50)
    associations: list[Subject] = Field(default_factory=list, max_length=200)
    shifts: list[Shift] = Field(default_factory=list, max_length=2000)


class DirectoryLoad(Strict):
    """What the rules know about people, from the force's HR, vetting and rostering systems:
    per officer their own records, declared associations and rostered shifts; and the protected
    list. Loading replaces what was there; names are turned into subject keys on arrival and
    never stored."""

    officers: dict[CollarNumber, OfficerEntry] = Field(default_factory=dict, max_length=50_000)
    protected: list[Subject] = Field(default_factory=list, max_length=50_000)


class DirectoryLoaded(BaseModel):
    officers: int
    own_records: int
    associations: int
    protected: int
    shifts: int


class FlagPublic(BaseModel):
    id: uuid.UUID
    rule: str
    officer: str
    key: str
    score: float
    status: str
    evidence_count: int
    detail: dict[str, Any]
    raised_at: datetime
    updated_at: datetime


class FlagPage(BaseModel):
    items: list[FlagPublic]
    total: int


class FlagNotePublic(BaseModel):
    at: datetime
    author: str
    status_from: str
    status_to: str
    note: str


class FlagDetail(FlagPublic):
    notes: list[FlagNotePublic]
    evidence: list[dict[str, Any]]  # the transactions' audit events, canonical documents


class FlagReview(Strict):
    decision: Literal["dismissed", "escalated", "open"]
    note: Note


class FlagNoteAdd(Strict):
    note: Note


class JustificationRecord(BaseModel):
    id: uuid.UUID
    transaction_id: uuid.UUID
    transaction_event_id: uuid.UUID
    officer: str
    device_id: uuid.UUID
    asked_at: datetime
    answered_at: datetime | None
    answer: str | None
