"""Queries over devices, certificates, posture history and seen assertion ids."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

import sqlalchemy
from sqlalchemy import bindparam, delete, func, update
from sqlmodel import Session, col, select

from mdm_server.auth.models import StaffUser
from mdm_server.commands.models import Command, CommandState
from mdm_server.db import insert_ignoring_conflicts
from mdm_server.devices.models import (
    COMPLIANCE_NOT_APPLICABLE,
    Device,
    DeviceAssertion,
    DeviceCertificate,
    DeviceEvent,
    DeviceEventHead,
    DeviceState,
    PostureRecord,
)
from mdm_server.policies.models import PolicyEpoch
from mdm_server.secure.models import ContainerKey


def get_device(
    session: Session, device_id: uuid.UUID, *, for_update: bool = False
) -> Device | None:
    query = select(Device).where(col(Device.id) == device_id)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def find_by_serial(session: Session, serial: str, *, for_update: bool = False) -> Device | None:
    """The active record for a serial, else its most recently enrolled one."""
    query = (
        select(Device)
        .where(col(Device.serial) == serial)
        .order_by((col(Device.state) == DeviceState.active).desc(), col(Device.enrolled_at).desc())
        .limit(1)
    )
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def by_id_prefix(session: Session, prefix: str) -> Sequence[Device]:
    """Devices whose id starts with `prefix`, 4 to 8 hex digits (at most two: enough to tell
    whether it is unique). Before the first dash, the id's text form is the same on SQLite
    (32 hex digits) and PostgreSQL (the dashed form)."""
    query = select(Device).where(
        sqlalchemy.cast(col(Device.id), sqlalchemy.String).like(f"{prefix}%")
    )
    return session.exec(query.limit(2)).all()


def active_by_serial(session: Session, serial: str) -> Device | None:
    query = select(Device).where(
        col(Device.serial) == serial, col(Device.state) == DeviceState.active
    )
    return session.exec(query.with_for_update()).first()


def active_of_officer(session: Session, officer_id: uuid.UUID) -> Sequence[Device]:
    """The active devices assigned to an officer, rows locked."""
    query = select(Device).where(
        col(Device.officer_id) == officer_id, col(Device.state) == DeviceState.active
    )
    return session.exec(query.order_by(col(Device.serial)).with_for_update()).all()


@dataclass(frozen=True)
class DeviceRef:
    """The few facts about a device that authenticating one of its requests needs, with its
    newest unrevoked certificate (if any), and what a check-in needs to tell whether its
    policy or compliance could have changed."""

    id: uuid.UUID
    serial: str
    state: str
    group_name: str
    posture_digest: str | None
    policy_version: int | None
    policy_epoch: int | None
    compliance_status: str | None
    compliance_review_at: datetime | None
    current_policy_epoch: int | None
    certificate_serial: str | None
    certificate_pem: str | None
    not_before: datetime | None
    not_after: datetime | None
    container_key_id: uuid.UUID | None  # the live container key, told at every check-in
    commands_open: bool  # a command queued or delivered: a check-in looks for what to send


_devices = Device.__table__  # type: ignore[attr-defined]
_certificates = DeviceCertificate.__table__  # type: ignore[attr-defined]
_assertions = DeviceAssertion.__table__  # type: ignore[attr-defined]
_epoch = PolicyEpoch.__table__  # type: ignore[attr-defined]
_container_keys = ContainerKey.__table__  # type: ignore[attr-defined]
_commands = Command.__table__  # type: ignore[attr-defined]


def live_container_key_id() -> sqlalchemy.ScalarSelect[Any]:
    """The device row's live container key id, as a column of a statement over devices."""
    return (
        sqlalchemy.select(_container_keys.c.id)
        .where(
            _container_keys.c.device_id == _devices.c.id, _container_keys.c.destroyed_at.is_(None)
        )
        .scalar_subquery()
    )


def commands_open() -> sqlalchemy.Exists:
    """Whether a command is queued or delivered for the device row: all a check-in or a poll
    could have to send."""
    return (
        sqlalchemy.select(_commands.c.id)
        .where(
            _commands.c.device_id == _devices.c.id,
            sqlalchemy.or_(
                _commands.c.state == CommandState.queued,
                _commands.c.state == CommandState.delivered,
            ),
        )
        .exists()
    )


# The check-in path's statements, built once: constructing SQLAlchemy statements costs more than
# running these on SQLite, and every device request runs them.
_DEVICE_REF = (
    sqlalchemy.select(
        _devices.c.id,
        _devices.c.serial,
        _devices.c.state,
        _devices.c.group_name,
        _devices.c.posture_digest,
        _devices.c.policy_version,
        _devices.c.policy_epoch,
        _devices.c.compliance_status,
        _devices.c.compliance_review_at,
        sqlalchemy.select(_epoch.c.epoch).where(_epoch.c.id == 1).scalar_subquery(),
        _certificates.c.serial_number,
        _certificates.c.certificate_pem,
        _certificates.c.not_before,
        _certificates.c.not_after,
        live_container_key_id(),
        commands_open(),
    )
    .select_from(
        _devices.outerjoin(
            _certificates,
            (_certificates.c.device_id == _devices.c.id) & _certificates.c.revoked_at.is_(None),
        )
    )
    .where(_devices.c.id == bindparam("device_id"))
    .order_by(_certificates.c.not_after.desc())
    .limit(1)
)
_RECORD_CHECKIN = (
    _devices.update()
    .where(_devices.c.id == bindparam("device_id"), _devices.c.state == DeviceState.active)
    .values(
        posture=bindparam("posture"),
        posture_digest=bindparam("digest"),
        posture_received_at=bindparam("now"),
        last_seen_at=bindparam("now"),
        # What the device now says of its software replaces what it said at enrolment (an
        # update from Android 7.0 to 9, a new security patch); silence keeps the old fact.
        android_version=func.coalesce(
            bindparam("android_version", type_=_devices.c.android_version.type),
            _devices.c.android_version,
        ),
        sdk=func.coalesce(bindparam("sdk", type_=_devices.c.sdk.type), _devices.c.sdk),
        security_patch=func.coalesce(
            bindparam("security_patch", type_=_devices.c.security_patch.type),
            _devices.c.security_patch,
        ),
    )
    .returning(_devices.c.id)
)
_RECORD_SEEN = (
    _devices.update()
    .where(_devices.c.id == bindparam("device_id"), _devices.c.state == DeviceState.active)
    .values(posture_received_at=bindparam("now"), last_seen_at=bindparam("now"))
    .returning(_devices.c.id)
)
_event_heads = DeviceEventHead.__table__  # type: ignore[attr-defined]
_CREATE_EVENT_HEAD = insert_ignoring_conflicts(_event_heads)
_REMEMBER_ASSERTION = {
    dialect: statement.returning(_assertions.c.jti)
    for dialect, statement in insert_ignoring_conflicts(_assertions).items()
}


def device_ref(session: Session, device_id: uuid.UUID) -> DeviceRef | None:
    """One narrow query for the authentication hot path: no ORM objects, no posture JSON."""
    row = session.execute(_DEVICE_REF, {"device_id": device_id}).first()
    return DeviceRef(*row) if row is not None else None


def record_checkin(
    session: Session,
    device_id: uuid.UUID,
    *,
    posture: dict[str, Any] | None,
    digest: str,
    now: datetime,
    software: SoftwareFacts | None = None,
) -> bool:
    """Store a check-in on an active device in one statement; False if it is not active.
    `posture` None means it has not changed, so only the times are written."""
    if posture is None:
        params: dict[str, Any] = {"device_id": device_id, "now": now}
        return session.execute(_RECORD_SEEN, params).first() is not None
    params = {
        "device_id": device_id,
        "posture": posture,
        "digest": digest,
        "now": now,
        **(software or SoftwareFacts())._asdict(),
    }
    return session.execute(_RECORD_CHECKIN, params).first() is not None


class SoftwareFacts(NamedTuple):
    """The device's software as its posture reports it; None where it did not say."""

    android_version: str | None = None
    sdk: int | None = None
    security_patch: date | None = None


def posture_of(session: Session, device_id: uuid.UUID) -> dict[str, Any] | None:
    return session.execute(
        sqlalchemy.select(_devices.c.posture).where(_devices.c.id == device_id)
    ).scalar()


def certificates(session: Session, device_id: uuid.UUID) -> Sequence[DeviceCertificate]:
    query = (
        select(DeviceCertificate)
        .where(col(DeviceCertificate.device_id) == device_id)
        .order_by(col(DeviceCertificate.issued_at).desc())
    )
    return session.exec(query).all()


def revoke_certificates(
    session: Session, device_id: uuid.UUID, *, now: datetime, reason: str
) -> int:
    result = session.execute(
        update(DeviceCertificate)
        .where(
            col(DeviceCertificate.device_id) == device_id,
            col(DeviceCertificate.revoked_at).is_(None),
        )
        .values(revoked_at=now, revocation_reason=reason)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def remember_assertion(
    session: Session, *, device_id: uuid.UUID, jti: str, expires_at: datetime
) -> bool:
    """Record an assertion id; False if the device used it before (a replay).

    `RETURNING` tells whether the row went in: rowcount is not reliable for every driver and
    statement kind (psycopg reports -1 for some)."""
    statement = _REMEMBER_ASSERTION[session.get_bind().dialect.name]
    params = {"device_id": device_id, "jti": jti, "expires_at": expires_at}
    return session.execute(statement, params).first() is not None


def purge_assertions(session: Session, *, expired_before: datetime) -> int:
    result = session.execute(
        delete(DeviceAssertion).where(col(DeviceAssertion.expires_at) < expired_before)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def add_posture_record(session: Session, record: PostureRecord, *, keep: int) -> None:
    """Append a posture record and drop all but the newest `keep` for that device."""
    session.add(record)
    session.flush()
    cutoff = (
        select(PostureRecord.id)
        .where(col(PostureRecord.device_id) == record.device_id)
        .order_by(col(PostureRecord.id).desc())
        .offset(keep)
        .limit(1)
        .scalar_subquery()
    )
    session.execute(
        delete(PostureRecord).where(
            col(PostureRecord.device_id) == record.device_id, col(PostureRecord.id) <= cutoff
        )
    )


def posture_history(
    session: Session, device_id: uuid.UUID, *, limit: int
) -> Sequence[PostureRecord]:
    query = (
        select(PostureRecord)
        .where(col(PostureRecord.device_id) == device_id)
        .order_by(col(PostureRecord.id).desc())
        .limit(limit)
    )
    return session.exec(query).all()


@dataclass(frozen=True)
class DeviceFilter:
    group: str | None = None
    officer_id: uuid.UUID | None = None
    model: str | None = None
    android_version: str | None = None
    state: str | None = None
    last_seen_before: datetime | None = None
    last_seen_after: datetime | None = None
    compliance: str | None = None
    search: str | None = None  # the start of a serial or IMEI
    lost: bool | None = None  # reported lost by its officer (None: either)


def list_devices(
    session: Session, *, where: DeviceFilter, limit: int, offset: int
) -> tuple[Sequence[tuple[Device, StaffUser | None]], int]:
    """A page of devices with their officers, newest enrolment first, and the total count."""
    query = select(Device)
    conditions = []
    if where.group is not None:
        conditions.append(col(Device.group_name) == where.group)
    if where.officer_id is not None:
        conditions.append(col(Device.officer_id) == where.officer_id)
    if where.model is not None:
        conditions.append(col(Device.model) == where.model)
    if where.android_version is not None:
        conditions.append(col(Device.android_version) == where.android_version)
    if where.state is not None:
        conditions.append(col(Device.state) == where.state)
    if where.last_seen_before is not None:
        conditions.append(col(Device.last_seen_at) < where.last_seen_before)
    if where.last_seen_after is not None:
        conditions.append(col(Device.last_seen_at) > where.last_seen_after)
    if where.search:
        prefix = where.search.replace("\\", "").replace("%", "").replace("_", "") + "%"
        conditions.append(
            sqlalchemy.or_(col(Device.serial).like(prefix), col(Device.imei).like(prefix))
        )
    if where.lost is not None:
        lost_at = col(Device.lost_at)
        conditions.append(lost_at.is_not(None) if where.lost else lost_at.is_(None))
    # A compliance status is a statement about a device in service; a retired or wiped one's
    # last status is history, and it reads as not applicable.
    if where.compliance == COMPLIANCE_NOT_APPLICABLE:
        conditions.append(col(Device.state) != DeviceState.active)
    elif where.compliance == "not_evaluated":
        conditions.append(col(Device.state) == DeviceState.active)
        conditions.append(col(Device.compliance_status).is_(None))
    elif where.compliance is not None:
        conditions.append(col(Device.state) == DeviceState.active)
        conditions.append(col(Device.compliance_status) == where.compliance)
    query = query.where(*conditions)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = session.exec(
        select(Device, StaffUser)
        .outerjoin(StaffUser, col(StaffUser.id) == col(Device.officer_id))
        .where(*conditions)
        .order_by(col(Device.enrolled_at).desc(), col(Device.id))
        .limit(limit)
        .offset(offset)
    ).all()
    return page, int(total)


def event_head(session: Session, device_id: uuid.UUID) -> DeviceEventHead:
    """The device's event sequence head, created on first use and locked for this unit of
    work, so concurrent batches from one device take turns."""
    session.execute(
        _CREATE_EVENT_HEAD[session.get_bind().dialect.name],
        {"device_id": device_id, "contiguous_seq": 0, "highest_seq": 0},
    )
    query = select(DeviceEventHead).where(col(DeviceEventHead.device_id) == device_id)
    return session.exec(query.with_for_update()).one()


def known_events(
    session: Session, device_id: uuid.UUID, *, event_ids: list[uuid.UUID], seqs: list[int]
) -> list[tuple[uuid.UUID, int]]:
    """(event id, seq) of the device's stored events sharing an id or a seq with a batch."""
    query = select(DeviceEvent.event_id, DeviceEvent.seq).where(
        col(DeviceEvent.device_id) == device_id,
        col(DeviceEvent.event_id).in_(event_ids) | col(DeviceEvent.seq).in_(seqs),
    )
    return [(event_id, seq) for event_id, seq in session.exec(query).all()]


def contiguous_from(session: Session, device_id: uuid.UUID, start: int) -> int:
    """The last number of the unbroken run of sequence numbers after `start`."""
    query = (
        select(DeviceEvent.seq)
        .where(col(DeviceEvent.device_id) == device_id, col(DeviceEvent.seq) > start)
        .order_by(col(DeviceEvent.seq))
    )
    current = start
    for seq in session.exec(query):
        if seq != current + 1:
            break
        current = seq
    return current


def missing_ranges(
    session: Session, device_id: uuid.UUID, *, after: int, up_to: int, limit: int
) -> list[tuple[int, int]]:
    """Ranges of sequence numbers in (after, up_to] with no event, first and last inclusive."""
    if up_to <= after:
        return []
    query = (
        select(DeviceEvent.seq)
        .where(
            col(DeviceEvent.device_id) == device_id,
            col(DeviceEvent.seq) > after,
            col(DeviceEvent.seq) <= up_to,
        )
        .order_by(col(DeviceEvent.seq))
    )
    ranges: list[tuple[int, int]] = []
    expected = after + 1
    for seq in session.exec(query):
        if seq > expected:
            ranges.append((expected, seq - 1))
            if len(ranges) >= limit:
                return ranges
        expected = seq + 1
    if expected <= up_to:
        ranges.append((expected, up_to))
    return ranges[:limit]
