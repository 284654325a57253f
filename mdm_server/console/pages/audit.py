"""Professional standards' pages: audit search, one event with its proof, the evidential
bundle, and checkpoints, with a witness's checkpoint checked against the log."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from mdm_server.audit import handover, merkle, search
from mdm_server.audit import routes as audit_api
from mdm_server.audit.notes import Checkpoint, NoteError, NoteVerifier
from mdm_server.console.access import ConsoleAccess, ConsolePrincipal
from mdm_server.console.forms import parse, utc
from mdm_server.console.templating import counted, render
from mdm_server.deps import ContextDep
from mdm_server.errors import NotFoundError
from mdm_server.scheduler.routes import list_jobs
from mdm_server.secure.schemas import IncidentReference, Name, Registration
from mdm_server.validation import CollarNumber, Division
from policies.document import PurposeCode, TransactionTypeName

router = APIRouter(prefix="/console/audit", include_in_schema=False)
AuditorPage = Annotated[ConsolePrincipal, Depends(ConsoleAccess.like(audit_api.search_events))]
READING_JOBS = ConsoleAccess.like(list_jobs)
ExportPage = Annotated[ConsolePrincipal, Depends(ConsoleAccess.like(audit_api.export_bundle))]
TRANSACTION_TYPES: tuple[str, ...] = TransactionTypeName.__args__  # type: ignore[attr-defined]
Action = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,62}\*?$")]


class SearchForm(BaseModel):
    """The audit search's fields, typed as the API's query parameters are."""

    model_config = ConfigDict(extra="ignore")

    officer: CollarNumber | None = None
    device: uuid.UUID | None = None
    action: Action | None = None
    type: TransactionTypeName | None = None
    purpose: PurposeCode | None = None
    division: Division | None = None
    start: datetime | None = None
    end: datetime | None = None
    surname: Name | None = None
    forename: Name | None = None
    date_of_birth: date | None = None
    registration: Registration | None = None
    incident: IncidentReference | None = None
    before: int | None = Field(default=None, ge=1)
    limit: int = Field(default=50, ge=1, le=search.MAX_PAGE)
    format: Literal["csv", "json"] = "csv"  # of an export


class BundleForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    start: datetime
    end: datetime
    officer: CollarNumber | None = None
    device: uuid.UUID | None = None


def _filters(context: ContextDep, form: SearchForm) -> search.Filters:
    return audit_api.search_filters(
        context,
        officer=form.officer,
        device=form.device,
        action=form.action,
        transaction_type=form.type,
        purpose=form.purpose,
        division=form.division,
        start=utc(form.start),
        end=utc(form.end),
        surname=form.surname,
        forename=form.forename,
        date_of_birth=form.date_of_birth,
        registration=form.registration,
        incident=form.incident,
    )


def _given(request: Request) -> dict[str, str]:
    return {
        name: value
        for name, value in request.query_params.items()
        if value.strip() and name not in ("before", "format")
    }


@router.get("")
def audit_search(request: Request, principal: AuditorPage, context: ContextDep) -> HTMLResponse:
    """Search the audit log by every filter the API has; the search itself is audited."""
    given = _given(request)
    form = parse(SearchForm, request.query_params)
    page = None
    if given:
        filters = _filters(context, form)
        page = audit_api.search_events(
            context, principal, filters, limit=form.limit, before=form.before
        )
    return render(
        request,
        "audit_search.html",
        principal=principal,
        form=form,
        given=given,
        page=page,
        types=TRANSACTION_TYPES,
        query=urlencode(given),
        next_query=urlencode({**given, "before": page.next_before})
        if page is not None and page.next_before is not None
        else None,
    )


@router.get("/export")
def export_search(request: Request, principal: AuditorPage, context: ContextDep) -> Response:
    """The matching events as CSV or JSON (audited)."""
    form = parse(SearchForm, request.query_params)
    return audit_api.export_search(context, principal, _filters(context, form), output=form.format)


@dataclass(frozen=True)
class Inclusion:
    """Whether an event is proven in the latest signed checkpoint, checked as an outsider
    would: the signed note, the public proof, the leaf bytes."""

    proven: bool
    checkpoint: Checkpoint | None
    proof_hashes: int
    problem: str


@dataclass(frozen=True)
class KeyChangeShown:
    seq: int
    at: str  # when, as the record says
    old_key: str
    new_key: str


@dataclass(frozen=True)
class Published:
    """What the log publishes to anyone, read from its public routes as a witness reads it:
    the verifier key, the key changes that lead to it, and the latest checkpoint, opened with
    that key."""

    key: str
    verifier: NoteVerifier
    note: str  # empty before the first checkpoint
    latest: Checkpoint | None  # None if there is none, or it does not verify
    problem: str  # why `latest` is None
    keys: handover.KeyChain  # the keys before it, as far as the key changes verify
    changes: tuple[KeyChangeShown, ...] = ()


def _key_chain(
    context: ContextDep, key: str
) -> tuple[handover.KeyChain, tuple[KeyChangeShown, ...]]:
    """The chain of keys the log's public key changes verify to end at `key` (just `key`
    when there are none, or they do not lead to it)."""
    current = NoteVerifier.parse(key)
    records = audit_api.key_changes(context, None).key_changes
    notes = [record.note for record in records]
    try:
        first = handover.read(notes[0]).old_key if notes else key
        links = handover.follow(first, notes, to=key)
    except NoteError:
        return handover.KeyChain((current,)), ()
    at = {
        record.note: str(json.loads(base64.b64decode(record.canonical))["time"])
        for record in records
    }
    shown = tuple(
        KeyChangeShown(record.seq, at[record.note], link.old_key, link.new_key)
        for record, link in zip(records, links, strict=False)
    )
    return handover.KeyChain((*(link.old for link in links), current)), shown


def _published(context: ContextDep) -> Published:
    key = bytes(audit_api.verifier_key(context, None).body).decode().strip()
    verifier = NoteVerifier.parse(key)
    keys, changes = _key_chain(context, key)
    try:
        note = bytes(audit_api.latest_checkpoint(context, None).body).decode()
    except NotFoundError:
        return Published(
            key, verifier, "", None, "no checkpoint has been signed yet", keys, changes
        )
    try:
        return Published(key, verifier, note, verifier.open(note), "", keys, changes)
    except NoteError as exc:
        problem = f"the latest checkpoint does not verify: {exc}"
        return Published(key, verifier, note, None, problem, keys, changes)


def _hashes(proof: audit_api.Proof) -> list[bytes]:
    return [base64.b64decode(item) for item in proof.proof]


def _inclusion(context: ContextDep, seq: int, canonical: bytes) -> Inclusion:
    published = _published(context)
    checkpoint = published.latest
    if checkpoint is None:
        return Inclusion(False, None, 0, published.problem)
    if seq > checkpoint.size:
        return Inclusion(
            False, checkpoint, 0, "written after the latest checkpoint; the next one includes it"
        )
    proof = _hashes(audit_api.inclusion_proof(context, None, seq=seq, size=checkpoint.size))
    try:
        merkle.verify_inclusion(
            seq - 1, checkpoint.size, merkle.leaf_hash(canonical), proof, checkpoint.root
        )
    except merkle.ProofError as exc:
        return Inclusion(False, checkpoint, len(proof), f"the proof fails: {exc}")
    return Inclusion(True, checkpoint, len(proof), "")


@router.get("/events/{seq}")
def audit_event(
    seq: int, request: Request, principal: AuditorPage, context: ContextDep
) -> HTMLResponse:
    """One event, its exact leaf bytes, and whether it is proven in the latest checkpoint
    (the read is audited)."""
    event = audit_api.read_event(seq, context, principal)
    canonical = base64.b64decode(event.canonical)
    return render(
        request,
        "audit_event.html",
        principal=principal,
        event=event,
        canonical=canonical.decode("utf-8"),
        inclusion=_inclusion(context, seq, canonical),
    )


@router.get("/bundle")
def bundle_form(request: Request, principal: ExportPage, context: ContextDep) -> HTMLResponse:
    """The evidential bundle: events of a time range, for an officer or a device."""
    return render(request, "audit_bundle.html", principal=principal, values=request.query_params)


@router.post("/bundle")
def download_bundle(
    principal: ExportPage,
    context: ContextDep,
    start: Annotated[str, Form(max_length=40)] = "",
    end: Annotated[str, Form(max_length=40)] = "",
    officer: Annotated[str, Form(max_length=16)] = "",
    device: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """The bundle as a zip; `tabard audit verify-bundle` checks it with nothing else."""
    form = parse(BundleForm, {"start": start, "end": end, "officer": officer, "device": device})
    return audit_api.export_bundle(
        context,
        principal,
        start=utc(form.start) or form.start,
        end=utc(form.end) or form.end,
        officer=form.officer,
        device=str(form.device) if form.device else None,
    )


@router.get("/checkpoints")
def checkpoints_page(request: Request, principal: AuditorPage, context: ContextDep) -> HTMLResponse:
    """The latest signed checkpoint, the verifier key, and a witness's checkpoint checked."""
    return _checkpoints(request, principal, context, witness_note="", result=None)


@router.post("/checkpoints/witness")
def check_witness(
    request: Request,
    principal: AuditorPage,
    context: ContextDep,
    note: Annotated[str, Form(max_length=4096)] = "",
) -> HTMLResponse:
    """Check a checkpoint a witness holds: signed by this log, and consistent with the latest."""
    return _checkpoints(
        request, principal, context, witness_note=note, result=_witness_result(context, note)
    )


@dataclass(frozen=True)
class WitnessResult:
    ok: bool
    message: str


def _witness_result(context: ContextDep, note: str) -> WitnessResult:
    published = _published(context)
    try:
        held = published.keys.open(note.replace("\r\n", "\n").strip() + "\n")
    except NoteError as exc:
        return WitnessResult(False, f"Not a checkpoint this log signed: {exc}.")
    result = _consistent(context, published, held)
    try:
        published.verifier.verify(note.replace("\r\n", "\n").strip() + "\n")
    except NoteError:
        earlier = " It was signed with the log's earlier key, which handed over to the key above."
        return WitnessResult(result.ok, result.message + (earlier if result.ok else ""))
    return result


def _consistent(context: ContextDep, published: Published, held: Checkpoint) -> WitnessResult:
    latest = published.latest
    if latest is None:
        return WitnessResult(False, f"The log has nothing to compare with: {published.problem}.")
    if held.size > latest.size:
        return WitnessResult(
            False,
            f"The witness holds {counted(held.size, 'event')} but the log now has only "
            f"{latest.size:,}: "
            "the log has been truncated or an old copy restored. Keep both notes as evidence.",
        )
    proof = _hashes(audit_api.consistency_proof(context, None, first=held.size, second=latest.size))
    try:
        merkle.verify_consistency(held.size, latest.size, held.root, latest.root, proof)
    except merkle.ProofError as exc:
        return WitnessResult(
            False,
            f"The log has rewritten its history since the witness's checkpoint ({exc}). "
            "Keep both notes as evidence.",
        )
    if held.size == latest.size:  # verified above: the same root, so nothing to prove
        return WitnessResult(
            True,
            f"Consistent: the log has exactly the witness's {counted(held.size, 'event')}, "
            "under the same signed root; nothing has been added since.",
        )
    return WitnessResult(
        True,
        f"Consistent: the witness's {counted(held.size, 'event')} "
        f"{'is' if held.size == 1 else 'are'} the first {held.size:,} of the log's "
        f"{latest.size:,}, unchanged (consistency proof of {counted(len(proof), 'hash', 'hashes')} "
        "verified).",
    )


def _checkpoints(
    request: Request,
    principal: ConsolePrincipal,
    context: ContextDep,
    *,
    witness_note: str,
    result: WitnessResult | None,
) -> HTMLResponse:
    published = _published(context)
    jobs = {job.name: job for job in _jobs(principal, context)}
    return render(
        request,
        "audit_checkpoints.html",
        principal=principal,
        note=published.note,
        latest=published.latest,
        verifier_key=published.key,
        key_changes=published.changes,
        job=jobs.get("checkpoint_audit_log"),
        witness_note=witness_note,
        result=result,
        server=context.settings.public_url,
    )


def _jobs(principal: ConsolePrincipal, context: ContextDep) -> list[Any]:
    if principal.role not in READING_JOBS.roles:
        return []
    return list_jobs(principal, context)
