"""The demo records connector's safeguarding referrals, kept in Tabard's own tables in the
request's unit of work: the referral as the officer filed it (a filed report, so it keeps its
versions and a draft sent twice is found, not filed twice) and its triage beside it. Never
commits. Mixed into `DemoConnector`."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, cast

from mdm_server.records import demo_store
from mdm_server.records import safeguarding_repository as repository
from mdm_server.records.filed import RecordsCall
from mdm_server.records.safeguarding_models import SafeguardingReferral
from mdm_server.safeguarding.connector import (
    AtRisk,
    Decision,
    DepartmentCall,
    Rating,
    Referral,
    Showing,
)

KIND = "safeguarding_referral"


def _referral(row: SafeguardingReferral, fields: dict[str, Any]) -> Referral:
    return Referral(
        reference=row.reference,
        at_risk=cast(AtRisk, row.at_risk),
        division=row.division,
        raised_by=row.raised_by,
        raised_at=row.raised_at,
        fields=fields,
        rating=cast(Rating | None, row.rating),
        rating_reason=row.rating_reason,
        rated_by=row.rated_by,
        rated_at=row.rated_at,
        decision=cast(Decision | None, row.decision),
        decision_reason=row.decision_reason,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )


class DemoSafeguarding:
    """Safeguarding referrals in Tabard's own tables; clearly fictional."""

    def raise_referral(
        self, referral: dict[str, Any], *, division: str | None, call: RecordsCall
    ) -> str:
        digest = hashlib.sha256(f"{KIND}|{call.transaction_id}".encode()).hexdigest()
        reference = f"SG-DEMO-{digest[:8].upper()}"
        demo_store.file_report(call, reference=reference, kind=KIND, report=referral)
        call.session.add(
            SafeguardingReferral(
                reference=reference,
                at_risk=referral["at_risk"],
                division=division,
                raised_by=call.collar_number,
                raised_at=call.now,
            )
        )
        call.session.flush()
        return reference

    def read_referral(
        self, reference: str, *, call: DepartmentCall, for_update: bool = False
    ) -> Referral | None:
        row = repository.get_referral(call.session, reference, for_update=for_update)
        if row is None:
            return None
        return _referral(row, repository.fields_of(call.session, reference))

    def referral_queue(
        self,
        *,
        showing: Showing,
        overdue_before: datetime,
        limit: int,
        offset: int,
        call: DepartmentCall,
    ) -> tuple[list[Referral], int]:
        rows, total = repository.queue(
            call.session, showing=showing, overdue_before=overdue_before, limit=limit, offset=offset
        )
        return [_referral(row, fields) for row, fields in rows], total

    def rate_referral(
        self, reference: str, rating: Rating, reason: str, *, call: DepartmentCall
    ) -> None:
        row = self._held(reference, call)
        row.rating, row.rating_reason = rating, reason
        row.rated_by, row.rated_at = call.by, call.now
        call.session.add(row)
        call.session.flush()

    def decide_referral(
        self, reference: str, decision: Decision, reason: str, *, call: DepartmentCall
    ) -> None:
        row = self._held(reference, call)
        row.decision, row.decision_reason = decision, reason
        row.decided_by, row.decided_at = call.by, call.now
        call.session.add(row)
        call.session.flush()

    def referral_counts(
        self, *, division: str, overdue_before: datetime, call: DepartmentCall
    ) -> tuple[int, int]:
        return repository.counts(call.session, division=division, overdue_before=overdue_before)

    @staticmethod
    def _held(reference: str, call: DepartmentCall) -> SafeguardingReferral:
        """The referral the caller has read for update."""
        row = repository.get_referral(call.session, reference, for_update=True)
        assert row is not None  # the service read it first
        return row
