"""The audit log's proofs over HTTP (docs/audit.md): what auditors, witnesses and anyone given
an export need to check it without trusting the server.

Checkpoints, the verifier key and proofs carry only sizes and hashes, as a Certificate
Transparency log's do, so they are public: a witness needs no Tabard account. An event itself
is personal data: auditors only, and each read is audited."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel

from mdm_server.audit import handover, repository, search, tree
from mdm_server.audit.export import ExportQuery, export
from mdm_server.audit.merkle import ProofError
from mdm_server.audit.service import record
from mdm_server.deps import Auditor, ContextDep, PublicAccess, require_step_up
from mdm_server.errors import InvalidRequestError, NotFoundError, error_responses
from mdm_server.secure.schemas import IncidentReference, Name, Registration
from mdm_server.validation import CollarNumber, Division, Moment
from policies.document import PurposeCode, TransactionTypeName

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
NOTE_TYPE = "text/plain; charset=utf-8"


class Proof(BaseModel):
    proof: list[str]  # base64 SHA-256 hashes, RFC 9162 order


class EventPublic(BaseModel):
    seq: int
    event: dict[str, Any]
    canonical: str  # base64 of the exact leaf bytes


def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(value).decode("ascii") for value in values]


@router.get("/checkpoint", response_class=PlainTextResponse, responses=error_responses(404))
def latest_checkpoint(context: ContextDep, _: PublicAccess) -> PlainTextResponse:
    """The latest signed checkpoint, as a C2SP signed note."""
    with context.database.unit_of_work(write=False) as session:
        latest = repository.latest_checkpoint(session)
    if latest is None:
        raise NotFoundError("no checkpoint has been signed yet; try again in a minute")
    return PlainTextResponse(latest.note, media_type=NOTE_TYPE)


@router.get("/verifier-key", response_class=PlainTextResponse)
def verifier_key(context: ContextDep, _: PublicAccess) -> PlainTextResponse:
    """The note verifier key checkpoints are signed with: `name+keyid+base64key`."""
    return PlainTextResponse(
        context.checkpoint_signer().verifier_key() + "\n", media_type=NOTE_TYPE
    )


class KeyChangePublic(BaseModel):
    seq: int
    note: str  # the change, signed by the old key and then the new (docs/audit.md)
    canonical: str  # base64 of the record's exact leaf bytes, to prove it is in the log


class KeyChanges(BaseModel):
    key_changes: list[KeyChangePublic]


@router.get("/key-changes")
def key_changes(context: ContextDep, _: PublicAccess) -> KeyChanges:
    """Every change of the checkpoint key, oldest first: how a witness or a bundle's
    recipient holding an earlier verifier key reaches the one in use. Each is an audit event
    in the log (prove it with /proof/inclusion), holding no personal data."""
    with context.database.unit_of_work(write=False) as session:
        found = handover.recorded_events(session)
    return KeyChanges(
        key_changes=[
            KeyChangePublic(
                seq=seq,
                note=str(json.loads(canonical)["detail"]["note"]),
                canonical=base64.b64encode(canonical.encode("utf-8")).decode("ascii"),
            )
            for seq, canonical in found
        ]
    )


@router.get("/proof/inclusion")
def inclusion_proof(
    context: ContextDep,
    _: PublicAccess,
    seq: Annotated[int, Query(ge=1, description="The event's sequence number.")],
    size: Annotated[int, Query(ge=1, description="The tree size of a signed checkpoint.")],
) -> Proof:
    """The audit path showing event `seq` in the tree of `size` events (leaf index seq - 1)."""
    if seq > size:
        raise InvalidRequestError(f"event {seq} is not in a tree of {size} events")
    with context.database.unit_of_work(write=False) as session:
        try:
            proof = tree.inclusion_proof(session, index=seq - 1, at=size)
        except ProofError as exc:
            raise InvalidRequestError(str(exc)) from None
    return Proof(proof=_b64(proof))


@router.get("/proof/consistency")
def consistency_proof(
    context: ContextDep,
    _: PublicAccess,
    first: Annotated[int, Query(alias="from", ge=1, description="The older tree size.")],
    second: Annotated[int, Query(alias="to", ge=1, description="The newer tree size.")],
) -> Proof:
    """The proof that the tree of `from` events is a prefix of the tree of `to` events."""
    if first > second:
        raise InvalidRequestError(f"from ({first}) must not be greater than to ({second})")
    with context.database.unit_of_work(write=False) as session:
        try:
            proof = tree.consistency_proof(session, first=first, second=second)
        except ProofError as exc:
            raise InvalidRequestError(str(exc)) from None
    return Proof(proof=_b64(proof))


@router.get("/events/{seq}")
def read_event(seq: int, context: ContextDep, caller: Auditor) -> EventPublic:
    """One event with its exact leaf bytes (auditors; the read is itself audited)."""
    with context.database.unit_of_work() as session:
        event = repository.event(session, seq)
        if event is None:
            raise NotFoundError(f"there is no audit event {seq}")
        record(
            session,
            actor=caller.actor,
            action="audit.event_read",
            now=context.clock(),
            target_type="audit_event",
            target_id=str(seq),
        )
        canonical = event.canonical.encode("utf-8")
    return EventPublic(
        seq=seq,
        event=json.loads(canonical),
        canonical=base64.b64encode(canonical).decode("ascii"),
    )


@router.get("/export", response_class=Response)
def export_bundle(
    context: ContextDep,
    caller: Auditor,
    start: Annotated[Moment, Query(alias="from", description="From this time (inclusive).")],
    end: Annotated[Moment, Query(alias="to", description="Until this time (exclusive).")],
    officer: Annotated[str | None, Query(max_length=16, description="Collar number.")] = None,
    device: Annotated[str | None, Query(max_length=64, description="Device id.")] = None,
) -> Response:
    """An evidential bundle (zip) of the matching events with their proofs (auditors, with a
    second factor used in the last minutes; audited). `tabard audit verify-bundle` checks it
    with nothing else."""
    for name, moment in (("from", start), ("to", end)):
        if moment.tzinfo is None:
            raise InvalidRequestError(f"'{name}' needs a time zone, e.g. 2026-11-21T00:00:00Z")
    query = ExportQuery(start=start, end=end, officer=officer, device=device)
    now = context.clock()
    with context.database.unit_of_work() as session:
        require_step_up(session, caller, context)
        data = export(
            session,
            query=query,
            signer=context.checkpoint_signer(),
            data_dir=context.settings.data_dir,
            actor=caller.actor,
            now=now,
        )
    name = f"tabard-audit-{now.strftime('%Y%m%dT%H%M%SZ')}.zip"
    return Response(
        data,
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


def search_filters(
    context: ContextDep,
    officer: Annotated[CollarNumber | None, Query(description="Collar number.")] = None,
    device: Annotated[uuid.UUID | None, Query(description="Device id.")] = None,
    action: Annotated[
        str | None,
        Query(
            pattern=r"^[a-z][a-z0-9_.]{0,62}\*?$",
            description="An action, or a prefix ending in '*' (transaction.*).",
        ),
    ] = None,
    transaction_type: Annotated[TransactionTypeName | None, Query(alias="type")] = None,
    purpose: Annotated[PurposeCode | None, Query()] = None,
    division: Annotated[Division | None, Query()] = None,
    start: Annotated[Moment | None, Query(alias="from", description="From (inclusive).")] = None,
    end: Annotated[Moment | None, Query(alias="to", description="Until (exclusive).")] = None,
    surname: Annotated[Name | None, Query(description="A person searched or recorded.")] = None,
    forename: Annotated[Name | None, Query()] = None,
    date_of_birth: Annotated[date | None, Query()] = None,
    registration: Annotated[Registration | None, Query(description="A vehicle.")] = None,
    incident: Annotated[IncidentReference | None, Query(description="An incident.")] = None,
) -> search.Filters:
    """The search filters of the query string; one subject (person, vehicle or incident)."""
    keys = context.subject_keys
    subject: dict[str, str] = {}
    subject_keys: list[str] = []
    if forename is not None and surname is None:
        raise InvalidRequestError("'forename' needs 'surname'")
    if date_of_birth is not None and forename is None:
        raise InvalidRequestError("'date_of_birth' needs 'surname' and 'forename'")
    given = [
        name
        for name, value in (
            ("surname", surname),
            ("registration", registration),
            ("incident", incident),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise InvalidRequestError(f"search for one subject at a time (given: {', '.join(given)})")
    if surname is not None:
        subject = {"surname": surname}
        subject.update({"forename": forename} if forename else {})
        subject.update({"date_of_birth": date_of_birth.isoformat()} if date_of_birth else {})
        subject_keys = keys.person(surname, forename, date_of_birth)
    elif registration is not None:
        subject, subject_keys = {"registration": registration}, [keys.vehicle(registration)]
    elif incident is not None:
        subject, subject_keys = {"incident": incident}, [keys.incident(incident)]
    return search.Filters(
        officer=officer,
        device=str(device) if device is not None else None,
        action=action,
        transaction_type=transaction_type,
        purpose=purpose,
        division=division,
        start=start,
        end=end,
        subject=subject,
        subject_keys=tuple(subject_keys),
    )


Filters = Annotated[search.Filters, Depends(search_filters)]


class SearchPage(BaseModel):
    events: list[dict[str, Any]]  # the events' canonical documents, newest first
    next_before: int | None  # pass as `before` for the next page; null on the last


@router.get("/search")
def search_events(
    context: ContextDep,
    caller: Auditor,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=search.MAX_PAGE)] = 50,
    before: Annotated[
        int | None, Query(ge=1, description="Only events before this sequence number.")
    ] = None,
) -> SearchPage:
    """Audit events matching every filter given, newest first (auditors; audited)."""
    with context.database.unit_of_work() as session:
        page = search.search(
            session, filters, limit=limit, before=before, actor=caller.actor, now=context.clock()
        )
    return SearchPage(events=page.events, next_before=page.next_before)


@router.get("/search/export", response_class=Response)
def export_search(
    context: ContextDep,
    caller: Auditor,
    filters: Filters,
    output: Annotated[Literal["csv", "json"], Query(alias="format")] = "csv",
) -> Response:
    """Every matching event, oldest first, as CSV or JSON (auditors; audited; at most
    50,000: narrow the filters for more)."""
    now = context.clock()
    with context.database.unit_of_work() as session:
        data = search.export(session, filters, output=output, actor=caller.actor, now=now)
    name = f"tabard-audit-search-{now.strftime('%Y%m%dT%H%M%SZ')}.{output}"
    return Response(
        data,
        media_type="text/csv; charset=utf-8" if output == "csv" else "application/json",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
