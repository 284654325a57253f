"""Filed reports as every records connector returns them, whatever system holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session


@dataclass(frozen=True)
class RecordsCall:
    """Who files, reads or changes a record, when, and under which transaction. `session` is
    the request's unit of work, for a connector that keeps records in Tabard's own database (the
    demo connector), so a record and its audit event are written together or not at all; a
    connector to another system ignores it. `division` is the officer's, where they have one."""

    session: Session
    transaction_id: str
    collar_number: str
    now: datetime
    division: str | None = None  # the officer's, where a record is filed in a division


@dataclass(frozen=True)
class Version:
    """One version of a report: the fields as they stood, who made it, when and why."""

    version: int
    fields: dict[str, Any]
    changed: list[str]
    reason: str | None
    by: str
    at: datetime
    transaction_id: str


@dataclass(frozen=True)
class Annotation:
    note: str
    by: str
    at: datetime
    transaction_id: str


@dataclass(frozen=True)
class Report:
    """A filed report as it stands, with its history. For a witness statement, `signature` is
    the witness's strokes and pad size, `signed_at` when they signed, and `signature_digest` the
    digest the server made on filing (docs/device-protocol.md §6.3)."""

    reference: str
    kind: str
    version: int
    fields: dict[str, Any]
    filed_by: str
    filed_at: datetime
    history: list[Version] = field(default_factory=list)
    signature: dict[str, Any] | None = None
    signed_at: datetime | None = None
    signature_digest: str | None = None
    annotations: list[Annotation] = field(default_factory=list)
