"""Filing reports, and working them once filed: reading one back, updating an incident report
(each version kept with who, when and why), and annotating a signed witness statement, which
itself never changes. Tabard's rules, the same whichever records connector answers. Never
commits.

Who may update or annotate: any officer whose device's policy gives a purpose for the type
(appropriate_use.transaction_types), not only the one who filed it. An incident passes from the
attending officer to whoever works it next, and the secure side's appropriate use rests on
trust audited after the fact: every update and note says who made it, when and why, both in
the report's history and in the audit log (docs/secure-side.md)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from mdm_server.errors import ConflictError, NotFoundError, UnprocessableError, quoted
from mdm_server.missing_persons import secure_side as missing_persons
from mdm_server.records.filed import RecordsCall, Report
from mdm_server.safeguarding.filing import raise_referral
from mdm_server.secure.connector import RecordsConnector
from mdm_server.secure.signatures import signed_time, statement_digest
from mdm_server.secure.transaction_schemas import (
    IncidentReport,
    IncidentReportBody,
    IncidentReportUpdate,
    MissingPersonReport,
    ReportLookup,
    SafeguardingReferral,
    StopAndSearch,
    WitnessStatement,
    WitnessStatementAnnotation,
)

Filing = (
    IncidentReport | MissingPersonReport | WitnessStatement | StopAndSearch | SafeguardingReferral
)
# Reports only the officer who filed them may read back: a safeguarding referral is for its
# officer and the MASH team (docs/safeguarding.md); to anyone else it does not exist.
OWN_ONLY = frozenset({"safeguarding_referral"})
SIGNED_STATEMENT = "a signed witness statement cannot be changed; add an annotation"
# A device's clock may run a little fast; a signature from further ahead is refused.
CLOCK_SKEW = timedelta(minutes=5)


def file(connector: RecordsConnector, request: Filing, call: RecordsCall) -> dict[str, Any]:
    """File a report. A witness statement's digest is made here and filed with it; a
    missing-person registration opens a case."""
    if isinstance(request, SafeguardingReferral):
        return raise_referral(connector, request.report, call)
    report = _unplaced_dropped(request.report.model_dump(mode="json", exclude={"signature"}))
    answer: dict[str, Any] = {}
    if isinstance(request, WitnessStatement):
        signature = _signature(request, call)
        report["signature"] = signature
        report["signature_digest"] = answer["signature_digest"] = _digest(
            report, signature, collar_number=call.collar_number
        )
        answer["signed_at"] = signature["signed_at"]
    answer["reference"] = connector.submit(request.type, report, call=call)
    if isinstance(request, MissingPersonReport):  # every registration opens a case
        missing_persons.open_case(connector, answer["reference"], report, call)
    return answer


def _unplaced_dropped(report: dict[str, Any]) -> dict[str, Any]:
    """The report without coordinates it was not given: its location text places it."""
    if report.get("latitude") is None and report.get("longitude") is None:
        report.pop("latitude", None)
        report.pop("longitude", None)
    return report


def update(
    connector: RecordsConnector, request: IncidentReportUpdate, call: RecordsCall
) -> dict[str, Any]:
    """Change an incident report: its next version, with the reason."""
    reference = request.update.reference
    report = _filed(connector, reference, call)
    if report.kind == "witness_statement":
        raise ConflictError(SIGNED_STATEMENT, code="signed_statement")
    if report.kind != "incident_report":
        raise ConflictError(
            f"{reference} is {_a(report.kind)}, not an incident report: only incident reports "
            "are updated this way",
            code="wrong_kind_of_report",
        )
    changes = request.update.changes.model_dump(mode="json", exclude_none=True)
    fields = _unplaced_dropped(
        IncidentReportBody.model_validate({**report.fields, **changes}).model_dump(mode="json")
    )
    changed = sorted(name for name in changes if report.fields.get(name) != fields[name])
    if not changed:
        raise ConflictError(
            f"the changes leave {reference} as it is (version {report.version}): send only "
            "what changes",
            code="nothing_changes",
        )
    connector.update_report(
        reference, fields, changed=changed, reason=request.update.reason, call=call
    )
    return {"reference": reference, "version": report.version + 1, "changed": changed}


def annotate(
    connector: RecordsConnector, request: WitnessStatementAnnotation, call: RecordsCall
) -> dict[str, Any]:
    """Keep a note beside a signed witness statement."""
    reference = request.annotation.reference
    report = _filed(connector, reference, call)
    if report.kind != "witness_statement":
        raise ConflictError(
            f"{reference} is {_a(report.kind)}, not a witness statement: notes are kept beside "
            "signed witness statements; an incident report is changed with an update",
            code="wrong_kind_of_report",
        )
    connector.annotate_report(reference, request.annotation.note, call=call)
    return {"reference": reference, "annotations": len(report.annotations) + 1}


def lookup(connector: RecordsConnector, request: ReportLookup, call: RecordsCall) -> dict[str, Any]:
    """A filed report read back: as it stands, its history and, for a witness statement, its
    signature, digest and annotations."""
    report = _readable(connector.read_report(request.query.reference, call=call), call)
    if report is None:
        return {"report": None, "found": False}
    return {"report": public(report), "found": True}


def public(report: Report) -> dict[str, Any]:
    """A report as the officer's device is shown it (JSON)."""
    shown = asdict(report)
    for moment in ("filed_at", "signed_at"):
        value = shown[moment]
        shown[moment] = value.isoformat() if value is not None else None
    for entry in shown["history"] + shown["annotations"]:
        entry["at"] = entry["at"].isoformat()
    if report.signed_at is not None:
        shown["signed_at"] = signed_time(report.signed_at)
    return shown


def _filed(connector: RecordsConnector, reference: str, call: RecordsCall) -> Report:
    """The report to change, held against other changes until this unit of work ends."""
    report = _readable(connector.read_report(reference, call=call, for_update=True), call)
    if report is None:
        raise NotFoundError(
            f"no report has the reference {quoted(reference)}: use the reference given when "
            "the report was filed",
            code="report_not_found",
        )
    return report


def _readable(report: Report | None, call: RecordsCall) -> Report | None:
    """The report, unless it is one only its filer may read and the caller did not file it."""
    if report is not None and report.kind in OWN_ONLY and report.filed_by != call.collar_number:
        return None
    return report


def _signature(request: WitnessStatement, call: RecordsCall) -> dict[str, Any]:
    """The signature as filed, its time to the second; never from the future."""
    signature = request.report.signature
    assert signature is not None  # the schema requires it
    if signature.signed_at > call.now + CLOCK_SKEW:
        raise UnprocessableError(
            [
                {
                    "field": "report.signature.signed_at",
                    "problem": f"is after the server's time ({signed_time(call.now)}): check "
                    "the device's clock and sign again",
                }
            ]
        )
    return {
        "width": signature.width,
        "height": signature.height,
        "strokes": [[list(point) for point in stroke] for stroke in signature.strokes],
        "signed_at": signed_time(signature.signed_at),
    }


def _digest(report: dict[str, Any], signature: dict[str, Any], *, collar_number: str) -> str:
    return statement_digest(
        statement=report["statement"],
        witness_surname=report["witness_surname"],
        witness_forename=report["witness_forename"],
        signed_at=datetime.fromisoformat(signature["signed_at"]),
        collar_number=collar_number,
        width=signature["width"],
        height=signature["height"],
        strokes=signature["strokes"],
    )


def _a(kind: str) -> str:
    words = kind.replace("_", " ")
    return f"{'an' if words[:1] in 'aeiou' else 'a'} {words}"
