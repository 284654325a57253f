"""Officers' acknowledgements of the appropriate-use policy text: needed before entry, kept
once, with a digest of the exact text accepted. Never commits."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from mdm_server.audit.service import Actor, record
from mdm_server.auth.models import StaffUser
from mdm_server.secure import repository
from mdm_server.secure.models import PolicyAcknowledgement


@dataclass(frozen=True)
class Pending:
    """A version of the text the officer has not acknowledged yet."""

    officer: StaffUser
    device_id: uuid.UUID
    version: str
    text: str

    def keep(self, session: Session, *, actor: Actor, now: datetime) -> None:
        """Record the officer's acknowledgement of this text, audited."""
        text_sha256 = hashlib.sha256(self.text.encode("utf-8")).hexdigest()
        session.add(
            PolicyAcknowledgement(
                officer_id=self.officer.id,
                text_version=self.version,
                text_sha256=text_sha256,
                device_id=self.device_id,
                acknowledged_at=now,
            )
        )
        record(
            session,
            actor=actor,
            action="secure.policy_acknowledged",
            now=now,
            target_type="staff_user",
            target_id=self.officer.id,
            detail={
                "collar_number": self.officer.collar_number,
                "policy_text_version": self.version,
                "text_sha256": text_sha256,
                "device_id": str(self.device_id),
            },
        )


def pending(
    session: Session, *, officer: StaffUser, device_id: uuid.UUID, version: str | None, text: str
) -> Pending | None:
    """The text the officer must acknowledge before entry, or None if there is none to (the
    policy names no version, or the officer acknowledged it already). Writes nothing."""
    if version is None or repository.acknowledgement(session, officer.id, version) is not None:
        return None
    return Pending(officer=officer, device_id=device_id, version=str(version), text=str(text))
