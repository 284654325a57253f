"""Police transactions through the secure side (DESIGN.md flow 7). Each is checked against the
session that carries it and the device's policy (type allowed, purpose code, incident
reference where required), recorded as an audit event with who, when and why (Data Protection
Act 2018 s62: the log of every consultation and disclosure, with its justification) and only
then answered from the records connector, in the same unit of work. Never commits."""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mdm_server.appropriate_use import flags, justification
from mdm_server.appropriate_use.flags import RULES_ACTOR
from mdm_server.audit.service import record
from mdm_server.audit.subjects import SubjectKeys, unique
from mdm_server.auth import repository as staff_repository
from mdm_server.auth.models import StaffUser
from mdm_server.deps import DevicePrincipal
from mdm_server.errors import (
    ConflictError,
    PermissionDeniedError,
    ServiceUnavailableError,
    TabardError,
)
from mdm_server.missing_persons import secure_side as missing_persons
from mdm_server.records.filed import RecordsCall
from mdm_server.secure import reports
from mdm_server.secure.connector import RecordsConnector, RecordsUnavailableError
from mdm_server.secure.gate import officer_actor, policy_for
from mdm_server.secure.sessions import current_session
from mdm_server.secure.transaction_schemas import (
    IncidentLookup,
    IncidentReportUpdate,
    JustificationAsked,
    MissingPersonCases,
    MissingPersonReport,
    MissingPersonUpdate,
    PersonSearch,
    ReportLookup,
    SafeguardingReferral,
    StopAndSearch,
    TransactionRequest,
    TransactionResult,
    VehicleSearch,
    WitnessStatement,
    WitnessStatementAnnotation,
)


def _check_against_policy(settings: dict[str, Any], request: TransactionRequest) -> None:
    types = settings.get("appropriate_use.transaction_types") or {}
    allowed = types.get(request.type)
    kind = request.type.replace("_", " ")  # in words: "person search"
    a_kind = f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"
    if allowed is None:
        raise PermissionDeniedError(
            f"the device's policy allows no {kind} transactions "
            "(appropriate_use.transaction_types)",
            code="transaction_not_allowed",
        )
    purposes = list(allowed.get("purposes", []))
    if request.purpose not in purposes:
        raise PermissionDeniedError(
            {
                "message": f"{request.purpose} is not a purpose for {a_kind}",
                "purposes": purposes,
            },
            code="purpose_not_allowed",
        )
    if allowed.get("incident_reference_required") and request.incident_reference is None:
        raise PermissionDeniedError(
            f"{a_kind} needs an incident reference (--incident REF)",
            code="incident_reference_required",
        )


def _subject(request: TransactionRequest) -> dict[str, Any]:
    """What the transaction looked at or recorded, for the audit event. Never a signature's
    strokes (the event records its digest), an update's new text or its reason, or a note:
    those stay with the report."""
    if isinstance(request, PersonSearch | VehicleSearch | IncidentLookup | ReportLookup):
        return request.query.model_dump(mode="json", exclude_none=True)
    if isinstance(request, IncidentReportUpdate):
        changes = request.update.changes.model_dump(exclude_none=True)
        return {"reference": request.update.reference, "fields": sorted(changes)}
    if isinstance(request, WitnessStatementAnnotation):
        return {"reference": request.annotation.reference}
    if isinstance(request, SafeguardingReferral):  # who it concerns; the concerns stay filed
        return request.report.model_dump(
            mode="json", include={"at_risk", "surname", "forename", "date_of_birth"}
        )
    if isinstance(request, MissingPersonUpdate):
        return {"reference": request.update.reference, "kind": request.update.kind}
    if isinstance(request, MissingPersonCases):
        return request.query.model_dump(mode="json", exclude_none=True)
    subject = request.report.model_dump(mode="json", exclude_none=True, exclude={"signature"})
    for coordinate in ("latitude", "longitude"):  # canonical JSON has no floats: as written
        if coordinate in subject:
            subject[coordinate] = str(subject[coordinate])
    return subject


def _subject_keys(keys: SubjectKeys, request: TransactionRequest) -> list[str]:
    """The subject keys of what the transaction looked at or recorded (docs/audit.md)."""
    found: list[str] = []
    if isinstance(request, PersonSearch):
        query = request.query
        found += keys.person(query.surname, query.forename, query.date_of_birth)
    elif isinstance(request, VehicleSearch):
        found.append(keys.vehicle(request.query.registration))
    elif isinstance(request, IncidentLookup):
        found.append(keys.incident(request.query.reference))
    elif isinstance(request, MissingPersonReport):
        report = request.report
        found += keys.person(report.surname, report.forename, report.date_of_birth)
    elif isinstance(request, SafeguardingReferral):
        report_at_risk = request.report
        found += keys.person(
            report_at_risk.surname, report_at_risk.forename, report_at_risk.date_of_birth
        )
    elif isinstance(request, WitnessStatement):
        found += keys.person(request.report.witness_surname, request.report.witness_forename)
    elif isinstance(request, StopAndSearch) and request.report.subject_surname:
        found += keys.person(request.report.subject_surname, request.report.subject_forename)
    elif isinstance(request, ReportLookup):
        found.append(keys.incident(request.query.reference))
    elif isinstance(request, IncidentReportUpdate):
        found.append(keys.incident(request.update.reference))
    elif isinstance(request, WitnessStatementAnnotation):
        found.append(keys.incident(request.annotation.reference))
    elif isinstance(request, MissingPersonUpdate):
        found.append(keys.incident(request.update.reference))
    elif isinstance(request, MissingPersonCases) and request.query.reference:
        found.append(keys.incident(request.query.reference))
    if request.incident_reference:
        found.append(keys.incident(request.incident_reference))
    return unique(found)


def _answer(
    connector: RecordsConnector, request: TransactionRequest, call: RecordsCall
) -> dict[str, Any]:
    if isinstance(request, PersonSearch):
        return {"people": connector.search_person(request.query)}
    if isinstance(request, VehicleSearch):
        return {"vehicles": connector.search_vehicle(request.query)}
    if isinstance(request, IncidentLookup):
        incident = connector.lookup_incident(request.query)
        return {"incident": incident, "found": incident is not None}
    if isinstance(request, ReportLookup):
        return reports.lookup(connector, request, call)
    if isinstance(request, IncidentReportUpdate):
        return reports.update(connector, request, call)
    if isinstance(request, WitnessStatementAnnotation):
        return reports.annotate(connector, request, call)
    if isinstance(request, MissingPersonUpdate):
        return missing_persons.update(connector, request.update, call)
    if isinstance(request, MissingPersonCases):
        return missing_persons.cases(connector, request.query, call)
    return reports.file(connector, request, call)


def _answer_whole(
    session: Session, connector: RecordsConnector, request: TransactionRequest, call: RecordsCall
) -> dict[str, Any]:
    """The connector's answer, or nothing it wrote: a records system that fails part-way, or a
    report refused once read, leaves no half-filed record behind the recorded attempt."""
    try:
        with session.begin_nested():
            return _answer(connector, request, call)
    except IntegrityError:
        if getattr(request, "draft_id", None) is None:
            raise
        # Two requests filing the same draft at once: the other one holds it.
        raise ConflictError(
            "this draft is being filed by another request at this moment; send it again for "
            "its reference",
            code="draft_in_flight",
        ) from None


def run_transaction(
    session: Session,
    *,
    caller: DevicePrincipal,
    token: str | None,
    request: TransactionRequest,
    connector: RecordsConnector,
    subjects: SubjectKeys,
    sample_key: bytes,
    now: datetime,
) -> TransactionResult:
    """Check, record, then answer. A transaction the records system cannot answer is still
    recorded, with that outcome."""
    secure = current_session(session, token=token, caller=caller, now=now)
    officer = staff_repository.get_user(session, secure.officer_id)
    assert officer is not None
    draft_id = getattr(request, "draft_id", None)
    transaction_id = draft_id or uuid.uuid4()
    if draft_id is not None:
        filed = _filed_before(session, connector, request, officer, str(draft_id), now)
        if filed is not None:
            return filed
    detail = _detail(request, caller, officer, connector, subjects, transaction_id, secure.id)
    settings = policy_for(session, caller.device).settings
    call = RecordsCall(
        session=session,
        transaction_id=str(transaction_id),
        collar_number=officer.collar_number or "",
        now=now,
        division=officer.division,
    )
    try:
        _check_against_policy(settings, request)
        result = _answer_whole(session, connector, request, call)
    except TabardError as refusal:
        detail["outcome"] = f"refused:{refusal.error_code}"
        _record(session, caller, officer, request, detail, settings, now)
        refusal.keep_changes = True
        raise
    except RecordsUnavailableError as exc:
        detail["outcome"] = "records_unavailable"
        _record(session, caller, officer, request, detail, settings, now)
        raise ServiceUnavailableError(
            f"the records system did not answer ({exc}); the attempt is recorded",
            code="records_unavailable",
            keep_changes=True,
        ) from None
    _note_answer(detail, request, result, subjects)
    event_id = _record(session, caller, officer, request, detail, settings, now)
    asked = justification.maybe_ask(
        session,
        key=sample_key,
        rate=float(settings.get("appropriate_use.justification_sample_rate") or 0),
        transaction_id=transaction_id,
        event_id=event_id,
        officer=officer.collar_number or "",
        device_id=caller.device.id,
        actor=RULES_ACTOR,
        now=now,
    )
    return TransactionResult(
        transaction_id=transaction_id,
        type=request.type,
        recorded_at=now,
        result=result,
        justification=(
            JustificationAsked(id=asked.id, question=justification.QUESTION) if asked else None
        ),
    )


def _filed_before(
    session: Session,
    connector: RecordsConnector,
    request: TransactionRequest,
    officer: StaffUser,
    draft_id: str,
    now: datetime,
) -> TransactionResult | None:
    """A draft sent again (the device did not hear the first answer): the report it filed
    then, answered again and not filed twice. Only the officer who filed it gets the answer."""
    call = RecordsCall(
        session=session, transaction_id=draft_id, collar_number=officer.collar_number or "", now=now
    )
    report = connector.filed_by(draft_id, call=call)
    if report is None:
        return None
    if report.kind != request.type or not hmac.compare_digest(
        report.filed_by, officer.collar_number or ""
    ):
        raise ConflictError(
            "that draft id was used for another report; send the draft under a new id",
            code="draft_id_taken",
        )
    result: dict[str, Any] = {"reference": report.reference, "already_filed": True}
    if report.signature_digest is not None and report.signed_at is not None:
        result["signature_digest"] = report.signature_digest
        result["signed_at"] = report.signed_at.isoformat()
    return TransactionResult(
        transaction_id=uuid.UUID(draft_id),
        type=request.type,
        recorded_at=report.filed_at,
        result=result,
    )


def _detail(
    request: TransactionRequest,
    caller: DevicePrincipal,
    officer: StaffUser,
    connector: RecordsConnector,
    subjects: SubjectKeys,
    transaction_id: uuid.UUID,
    session_id: uuid.UUID,
) -> dict[str, Any]:
    """The audit event's detail: who, on which device and session, why, and what."""
    return {
        "transaction_id": str(transaction_id),
        "type": request.type,
        "purpose": request.purpose,
        "incident_reference": request.incident_reference,
        "subject": _subject(request),
        "subject_keys": _subject_keys(subjects, request),
        "collar_number": officer.collar_number,
        "division": officer.division,
        "device_id": str(caller.device.id),
        "device_serial": caller.device.serial,
        "device_compliance": caller.device.compliance_status,
        "session_id": str(session_id),
        "connector": connector.name,
    }


def _note_answer(
    detail: dict[str, Any],
    request: TransactionRequest,
    result: dict[str, Any],
    subjects: SubjectKeys,
) -> None:
    """What the answer adds to the event: a filed report's reference (a subject key too, so a
    search by reference finds its filing), a new version's number, a statement's digest."""
    detail["outcome"] = "answered"
    detail["result_count"] = _count(result)
    for kept in ("reference", "version", "signature_digest"):
        if kept in result:
            detail[kept] = result[kept]
    if "reference" in result:
        detail["subject_keys"] = unique(
            [*detail["subject_keys"], subjects.incident(result["reference"])]
        )
    if isinstance(request, MissingPersonCases):
        shown = [result["case"]] if "case" in result else result["cases"]
        detail["references"] = [case["reference"] for case in shown]
        people = [key for case in shown for key in _people_in(subjects, case)]
        cases = [subjects.incident(case["reference"]) for case in shown]
        detail["subject_keys"] = unique([*detail["subject_keys"], *cases, *people])
    if isinstance(request, ReportLookup) and result["found"]:
        detail["reference"] = request.query.reference
        people = _people_in(subjects, result["report"]["fields"])
        detail["subject_keys"] = unique([*detail["subject_keys"], *people])


# The people a filed report names, by kind: (surname, forename, date of birth) fields.
_NAMED = (
    ("surname", "forename", "date_of_birth"),
    ("witness_surname", "witness_forename", None),
    ("subject_surname", "subject_forename", None),
)


def _people_in(keys: SubjectKeys, fields: dict[str, Any]) -> list[str]:
    """The subject keys of the people a report read back names, so a search for a person
    finds who read a report about them, as it finds who searched for them."""
    found: list[str] = []
    for surname, forename, born in _NAMED:
        if fields.get(surname):
            found += keys.person(
                fields[surname], fields.get(forename), fields.get(born) if born else None
            )
    return found


def _record(
    session: Session,
    caller: DevicePrincipal,
    officer: StaffUser,
    request: TransactionRequest,
    detail: dict[str, Any],
    settings: dict[str, Any],
    now: datetime,
) -> uuid.UUID:
    """Record the transaction, then run the appropriate-use rules over it."""
    event_id = record(
        session,
        actor=officer_actor(officer, caller),
        action=f"transaction.{request.type}",
        now=now,
        target_type="device",
        target_id=caller.device.id,
        detail=detail,
    )
    flags.judge(session, settings=settings, event=(event_id, now, detail), now=now)
    return event_id


def _count(result: dict[str, Any]) -> int:
    for key in ("people", "vehicles", "cases"):
        if key in result:
            return len(result[key])
    if "found" in result:
        return int(bool(result["found"]))
    return 1
