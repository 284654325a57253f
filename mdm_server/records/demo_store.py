"""The demo records connector's filing cabinet: reports filed through the secure side, kept in
Tabard's own tables in the request's unit of work. Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from mdm_server.geo.maps import MapSource
from mdm_server.geo.placement import place
from mdm_server.records import repository
from mdm_server.records.filed import Annotation, RecordsCall, Report, Version
from mdm_server.records.models import FiledReport, FiledReportVersion, ReportAnnotation

SIGNATURE_FIELDS = ("signature", "signature_digest")


def file_report(
    call: RecordsCall,
    *,
    reference: str,
    kind: str,
    report: dict[str, Any],
    maps: MapSource | None = None,
) -> None:
    """Keep a new report and its first version, with the officer's division and where it
    happened (placed on the division's map from `maps`). A witness statement's signature is kept
    apart from the fields that may be read as its text."""
    fields = {key: value for key, value in report.items() if key not in SIGNATURE_FIELDS}
    point = place(fields, maps.division(call.division) if maps is not None else None)
    signature = report.get("signature")
    drawn = signed_at = None
    if isinstance(signature, dict):  # a witness statement's
        drawn = {key: signature[key] for key in ("width", "height", "strokes")}
        signed_at = datetime.fromisoformat(signature["signed_at"])
    filed = FiledReport(
        reference=reference,
        kind=kind,
        transaction_id=uuid.UUID(call.transaction_id),
        filed_by=call.collar_number,
        filed_at=call.now,
        fields=fields,
        signature=drawn,
        signed_at=signed_at,
        signature_digest=report.get("signature_digest"),
        division=call.division,
        longitude=point[0] if point is not None else None,
        latitude=point[1] if point is not None else None,
    )
    call.session.add(filed)
    call.session.flush()  # the version names the report
    call.session.add(_version(call, reference=reference, number=1, fields=fields))
    call.session.flush()


def filed_by(call: RecordsCall, transaction_id: str) -> Report | None:
    """The report a transaction filed, if it filed one."""
    filed = repository.report_filed_by(call.session, uuid.UUID(transaction_id))
    return read_report(call, filed.reference) if filed is not None else None


def read_report(call: RecordsCall, reference: str, *, for_update: bool = False) -> Report | None:
    filed = repository.get_report(call.session, reference, for_update=for_update)
    if filed is None:
        return None
    return Report(
        reference=filed.reference,
        kind=filed.kind,
        version=filed.version,
        fields=dict(filed.fields),
        filed_by=filed.filed_by,
        filed_at=filed.filed_at,
        history=[
            Version(
                version=row.version,
                fields=dict(row.fields),
                changed=list(row.changed),
                reason=row.reason,
                by=row.by,
                at=row.at,
                transaction_id=str(row.transaction_id),
            )
            for row in repository.versions_of(call.session, reference)
        ],
        signature=dict(filed.signature) if filed.signature is not None else None,
        signed_at=filed.signed_at,
        signature_digest=filed.signature_digest,
        annotations=[
            Annotation(note=row.note, by=row.by, at=row.at, transaction_id=str(row.transaction_id))
            for row in repository.annotations_of(call.session, reference)
        ],
    )


def update_report(
    call: RecordsCall,
    reference: str,
    fields: dict[str, Any],
    *,
    changed: list[str],
    reason: str,
    maps: MapSource | None = None,
) -> None:
    """Make `fields` the report's next version, placed again where its location changed; the
    caller has read the report for update."""
    filed = repository.get_report(call.session, reference, for_update=True)
    assert filed is not None
    filed.version += 1
    filed.fields = dict(fields)
    if maps is not None and filed.division is not None and _moved(changed):
        point = place(fields, maps.division(filed.division))
        filed.longitude, filed.latitude = point if point is not None else (None, None)
    call.session.add(filed)
    call.session.add(
        _version(
            call,
            reference=reference,
            number=filed.version,
            fields=fields,
            changed=changed,
            reason=reason,
        )
    )
    call.session.flush()


def _moved(changed: list[str]) -> bool:
    return any(
        name in ("latitude", "longitude", "location") or name.endswith("_location")
        for name in changed
    )


def annotate_report(call: RecordsCall, reference: str, note: str) -> None:
    call.session.add(
        ReportAnnotation(
            reference=reference,
            note=note,
            by=call.collar_number,
            at=call.now,
            transaction_id=uuid.UUID(call.transaction_id),
        )
    )
    call.session.flush()


def _version(
    call: RecordsCall,
    *,
    reference: str,
    number: int,
    fields: dict[str, Any],
    changed: list[str] | None = None,
    reason: str | None = None,
) -> FiledReportVersion:
    return FiledReportVersion(
        reference=reference,
        version=number,
        fields=dict(fields),
        changed=list(changed or []),
        reason=reason,
        by=call.collar_number,
        at=call.now,
        transaction_id=uuid.UUID(call.transaction_id),
    )
