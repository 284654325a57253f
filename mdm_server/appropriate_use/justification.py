"""The random justification sample (docs/appropriate-use.md): a share of transactions, set by
policy (`appropriate_use.justification_sample_rate`), chosen by a keyed hash of the
transaction id so the officer cannot predict it; the officer is asked, through the agent, for
further justification, and the answer is recorded in the audit log. Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from mdm_server.appropriate_use.models import JustificationRequest
from mdm_server.audit.service import Actor, record
from mdm_server.errors import ConflictError, NotFoundError
from policies.appropriate_use import sampled_for_justification

KEY_PURPOSE = b"tabard/appropriate-use/justification-sample/v1"
QUESTION = (
    "This transaction was chosen at random for a check. Say, in your own words, why you made "
    "it: the task, incident or enquiry it was for."
)


def maybe_ask(
    session: Session,
    *,
    key: bytes,
    rate: float,
    transaction_id: uuid.UUID,
    event_id: uuid.UUID,
    officer: str,
    device_id: uuid.UUID,
    actor: Actor,
    now: datetime,
) -> JustificationRequest | None:
    """The request for justification if this transaction is in the sample; audited."""
    if not sampled_for_justification(str(transaction_id), rate, key=key):
        return None
    asked = JustificationRequest(
        transaction_id=transaction_id,
        event_id=event_id,
        officer=officer,
        device_id=device_id,
        asked_at=now,
    )
    session.add(asked)
    session.flush()
    record(
        session,
        actor=actor,
        action="appropriate_use.justification_requested",
        now=now,
        target_type="justification",
        target_id=asked.id,
        detail={
            "transaction_id": str(transaction_id),
            "transaction_event_id": str(event_id),
            "collar_number": officer,
            "device_id": str(device_id),
        },
    )
    return asked


def pending(session: Session, *, officer: str) -> list[JustificationRequest]:
    return list(
        session.execute(
            select(JustificationRequest)
            .where(
                col(JustificationRequest.officer) == officer,
                col(JustificationRequest.answered_at).is_(None),
            )
            .order_by(col(JustificationRequest.asked_at))
        ).scalars()
    )


def answer(
    session: Session,
    *,
    request_id: uuid.UUID,
    officer: str,
    text: str,
    actor: Actor,
    now: datetime,
) -> JustificationRequest:
    """Record the officer's answer, once; audited with the answer itself."""
    asked = session.get(JustificationRequest, request_id, with_for_update=True)
    if asked is None or asked.officer != officer:  # another officer's: as if it did not exist
        raise NotFoundError(f"no justification request {request_id} for this officer")
    if asked.answered_at is not None:
        raise ConflictError(
            f"justification request {request_id} was answered at {asked.answered_at.isoformat()}",
            code="already_answered",
        )
    asked.answered_at = now
    asked.answer = text
    session.add(asked)
    record(
        session,
        actor=actor,
        action="appropriate_use.justification_given",
        now=now,
        target_type="justification",
        target_id=asked.id,
        detail={
            "transaction_id": str(asked.transaction_id),
            "transaction_event_id": str(asked.event_id),
            "collar_number": officer,
            "device_id": str(asked.device_id),
            "answer": text,
        },
    )
    return asked
