"""Missing-person cases over HTTP. The missing-persons unit sees and works every case; a
supervisor sees only how many of their division's cases are open, by risk. Everyone else is
refused: officers see their own cases from the secure side (docs/missing-persons.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Path, Query
from sqlmodel import Session

from mdm_server.context import AppContext
from mdm_server.deps import ContextDep, MissingPersonsUnit, StaffPrincipal, Supervisor
from mdm_server.errors import PermissionDeniedError, error_responses
from mdm_server.missing_persons import cases, service
from mdm_server.missing_persons.schemas import (
    Board,
    CaseAssign,
    CaseClose,
    CasePublic,
    CaseRegrade,
    CaseReview,
    OpenByRisk,
)
from mdm_server.missing_persons.service import Desk
from mdm_server.secure.report_schemas import ReportReference

router = APIRouter(prefix="/api/v1/missing-persons", tags=["missing persons"])
Reference = Annotated[ReportReference, Path(description="The case's reference.")]
T = TypeVar("T")


def _work(principal: StaffPrincipal, context: AppContext, do: Callable[[Desk], T]) -> T:
    """Run `do` at the unit's desk in one unit of work: the change and its audit event
    together, or neither."""
    with context.database.unit_of_work() as session:
        return do(desk_for(session, principal, context))


def desk_for(session: Session, principal: StaffPrincipal, context: AppContext) -> Desk:
    """The desk a member of the unit works at, for this request."""
    return Desk(
        session,
        connector=context.records,
        subjects=context.subject_keys,
        intervals=cases.review_intervals(context.settings),
        actor=principal.actor,
        by=principal.collar_number or principal.username,
        now=context.clock(),
    )


@router.get("")
def missing_persons_board(
    principal: MissingPersonsUnit,
    context: ContextDep,
    status: Annotated[
        Literal["open", "closed", "all"],
        Query(description="open (the default: open and found cases), closed or all."),
    ] = "open",
) -> Board:
    """The unit's board: open cases by risk then time missing, reviews overdue marked."""
    return _work(principal, context, lambda desk: desk.board(status=status))


@router.get("/counts")
def missing_persons_counts(principal: Supervisor, context: ContextDep) -> OpenByRisk:
    """How many of the caller's division's cases are open, by risk: counts, never names."""
    if principal.division is None:
        raise PermissionDeniedError("your account has no division; ask IT to set one")
    division = principal.division
    with context.database.unit_of_work(write=False) as session:
        counts = service.open_by_risk(
            session, division=division, connector=context.records, now=context.clock()
        )
    return OpenByRisk(division=division, open_by_risk=counts, total=sum(counts.values()))


@router.get("/{reference}", responses=error_responses(404))
def read_missing_person_case(
    reference: Reference, principal: MissingPersonsUnit, context: ContextDep
) -> CasePublic:
    """A case with its timeline."""
    return _work(principal, context, lambda desk: desk.read(reference))


@router.post("/{reference}/regrade", responses=error_responses(404, 409))
def regrade_missing_person_case(
    reference: Reference, body: CaseRegrade, principal: MissingPersonsUnit, context: ContextDep
) -> CasePublic:
    """Grade the case's risk anew, with the reason."""
    return _work(principal, context, lambda desk: desk.regrade(reference, body))


@router.post("/{reference}/assign", responses=error_responses(404, 409))
def assign_missing_person_case(
    reference: Reference, body: CaseAssign, principal: MissingPersonsUnit, context: ContextDep
) -> CasePublic:
    """Give the case to an officer, by collar number."""
    return _work(principal, context, lambda desk: desk.assign(reference, body))


@router.post("/{reference}/reviews", responses=error_responses(404, 409))
def review_missing_person_case(
    reference: Reference, body: CaseReview, principal: MissingPersonsUnit, context: ContextDep
) -> CasePublic:
    """Record a review of the case; the next falls due by its risk."""
    return _work(principal, context, lambda desk: desk.review(reference, body))


@router.post("/{reference}/close", responses=error_responses(404, 409))
def close_missing_person_case(
    reference: Reference, body: CaseClose, principal: MissingPersonsUnit, context: ContextDep
) -> CasePublic:
    """Close the case, as found or withdrawn, with the reason."""
    return _work(principal, context, lambda desk: desk.close(reference, body))
