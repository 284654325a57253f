"""The requests a fleet makes most, each in one statement. First the check-in: a device
repeating its posture, under the policy it last resolved, owed no command, signing with the
certificate it last used.

On PostgreSQL every database round trip costs two context switches and a wake-up of a backend
process, and the ordinary check-in takes six of them (ping, BEGIN, the device, its assertion id,
its times, its commands, COMMIT). This path verifies the assertion first, with the device's
certificate as the server last saw it, then asks the database one question in autocommit:
if nothing that decides the answer has changed, record the assertion id and the times and
return what the answer needs. A data-modifying CTE is one statement, so it is atomic on its
own. The database re-checks everything the cached certificate stands for: the certificate must
still be the device's newest unrevoked one, the device active, the policy epoch unchanged, no
review due and no command open.

When any condition does not hold, nothing is written and the caller runs the ordinary
check-in, which says precisely what is wrong (a replayed `jti`, a revoked certificate) or does
the work (a new posture, a command to deliver). So this path never refuses anything itself.
SQLite has no data-modifying CTEs and no round trips to save; it always takes the ordinary
path.

The idle long poll (`attempt_poll`) is the same idea for the request a fleet makes most of
all: the device's assertion verified against its last certificate, then one statement that
records the `jti` if the certificate is still its newest unrevoked one, the device is active
and no command is open. Anything else, and the ordinary path delivers or refuses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import sqlalchemy
from sqlalchemy import bindparam, case, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg

from mdm_server.commands.models import Command
from mdm_server.db import Database
from mdm_server.devices import authentication, repository
from mdm_server.devices.authentication import (
    AssertionCheck,
    AssertionRejectedError,
    DevicePublicKeys,
)
from mdm_server.devices.models import Device, DeviceAssertion, DeviceCertificate, DeviceState
from mdm_server.policies.models import ComplianceStatus, DeviceCompliance, PolicyEpoch
from mdm_server.secure.models import ContainerKey

_devices = Device.__table__  # type: ignore[attr-defined]
_certificates = DeviceCertificate.__table__  # type: ignore[attr-defined]
_assertions = DeviceAssertion.__table__  # type: ignore[attr-defined]
_commands = Command.__table__  # type: ignore[attr-defined]
_compliance = DeviceCompliance.__table__  # type: ignore[attr-defined]
_epoch = PolicyEpoch.__table__  # type: ignore[attr-defined]
_container_keys = ContainerKey.__table__  # type: ignore[attr-defined]


def _statement() -> sqlalchemy.Select[Any]:
    devices = _devices
    newest_certificate = (
        sqlalchemy.select(_certificates.c.serial_number, _certificates.c.certificate_pem)
        .where(_certificates.c.device_id == devices.c.id, _certificates.c.revoked_at.is_(None))
        .order_by(_certificates.c.not_after.desc())
        .limit(1)
        .lateral("newest_certificate")
    )
    # The ordinary path reads the findings only to put a failing device's standing in words.
    findings = case(
        (
            devices.c.compliance_status != ComplianceStatus.compliant,
            sqlalchemy.select(_compliance.c.findings)
            .where(_compliance.c.device_id == devices.c.id)
            .scalar_subquery(),
        ),
        else_=None,
    )
    unchanged = (
        sqlalchemy.select(
            devices.c.id,
            devices.c.policy_version,
            devices.c.compliance_status,
            repository.live_container_key_id().label("container_key_id"),
            findings.label("findings"),
            newest_certificate.c.certificate_pem,
        )
        .select_from(devices.join(newest_certificate, sqlalchemy.true()))
        .where(
            devices.c.id == bindparam("checkin_device_id"),
            devices.c.state == DeviceState.active,
            devices.c.posture_digest == bindparam("checkin_digest"),
            # compliance.needs_evaluation, negated: resolved under the current epoch, no
            # review due.
            devices.c.policy_version.is_not(None),
            devices.c.policy_epoch
            == sqlalchemy.select(_epoch.c.epoch).where(_epoch.c.id == 1).scalar_subquery(),
            or_(
                devices.c.compliance_review_at.is_(None),
                devices.c.compliance_review_at > bindparam("checkin_now"),
            ),
            ~repository.commands_open(),
            newest_certificate.c.serial_number == bindparam("checkin_serial"),
        )
        .cte("unchanged")
    )
    seen = (
        pg_insert(_assertions)
        .from_select(
            ["device_id", "jti", "expires_at"],
            sqlalchemy.select(
                unchanged.c.id,
                bindparam("checkin_jti", type_=_assertions.c.jti.type),
                bindparam("checkin_expires_at", type_=_assertions.c.expires_at.type),
            ),
        )
        .on_conflict_do_nothing()
        .returning(_assertions.c.device_id)
        .cte("seen")
    )
    touched = (
        update(devices)
        .where(
            devices.c.id.in_(sqlalchemy.select(seen.c.device_id)),
            devices.c.state == DeviceState.active,
        )
        .values(last_seen_at=bindparam("checkin_now"), posture_received_at=bindparam("checkin_now"))
        .returning(devices.c.id)
        .cte("touched")
    )
    return sqlalchemy.select(
        unchanged.c.policy_version,
        unchanged.c.compliance_status,
        unchanged.c.container_key_id,
        unchanged.c.findings,
        unchanged.c.certificate_pem,
    ).join_from(unchanged, touched, touched.c.id == unchanged.c.id)


def _newest_certificate_serial() -> sqlalchemy.ScalarSelect[Any]:
    return (
        sqlalchemy.select(_certificates.c.serial_number)
        .where(_certificates.c.device_id == _devices.c.id, _certificates.c.revoked_at.is_(None))
        .order_by(_certificates.c.not_after.desc())
        .limit(1)
        .scalar_subquery()
    )


def _poll_statement() -> sqlalchemy.Insert:
    """The idle poll's: its `jti` recorded if nothing it stands on has changed."""
    unchanged = sqlalchemy.select(
        _devices.c.id,
        bindparam("poll_jti", type_=_assertions.c.jti.type),
        bindparam("poll_expires_at", type_=_assertions.c.expires_at.type),
    ).where(
        _devices.c.id == bindparam("poll_device_id"),
        _devices.c.state == DeviceState.active,
        _newest_certificate_serial() == bindparam("poll_serial"),
        ~repository.commands_open(),
    )
    return (
        pg_insert(_assertions)
        .from_select(["device_id", "jti", "expires_at"], unchanged)
        .on_conflict_do_nothing()
        .returning(_assertions.c.device_id)
    )


def _compiled(statement: sqlalchemy.Select[Any] | sqlalchemy.Insert) -> tuple[str, dict[str, Any]]:
    """A statement as psycopg takes it, and the values of its constants."""
    dialect = postgresql_psycopg.dialect()  # type: ignore[no-untyped-call]
    compiled = statement.compile(dialect=dialect)
    constants = {
        name: value.value if isinstance(value, Enum) else value
        for name, value in compiled.params.items()
        if value is not None
    }
    return compiled.string, constants


_SQL, _CONSTANTS = _compiled(_statement())
_POLL_SQL, _POLL_CONSTANTS = _compiled(_poll_statement())
CONNECTION_WAIT_S = 2.0  # longer than this for a free connection, and the ordinary path runs


@dataclass(frozen=True)
class QuickCheckin:
    """What the answer to a check-in taken on the quick path needs."""

    device_id: uuid.UUID
    policy_version: int | None
    compliance_status: str | None
    container_key_id: uuid.UUID | None
    findings: list[dict[str, Any]] | None
    certificate_pem: str


@dataclass(frozen=True)
class _Verified:
    device_id: uuid.UUID
    serial_number: str
    jti: str
    keep_until: datetime  # how long the jti must be remembered


def _verified(check: AssertionCheck, keys: DevicePublicKeys) -> _Verified | None:
    """The assertion checked against the certificate the server last accepted for its device,
    or None for the ordinary path (which says what is wrong, if anything is)."""
    try:
        token = authentication.bearer_token(check.authorization)
        device_id = authentication.claimed_device_id(check.authorization)
    except AssertionRejectedError:
        return None
    known = keys.last_certificate(device_id)
    if known is None or not known.not_before <= check.now <= known.not_after:
        return None
    try:
        jti, expires_at = authentication.check_assertion(
            token, known.key, device_id=device_id, check=check
        )
    except AssertionRejectedError:
        return None
    return _Verified(device_id, known.serial_number, jti, expires_at + check.skew)


async def _one_row(database: Database, sql: str, params: dict[str, Any]) -> Any | None:
    """The statement's one row, sent with whatever else is waiting, or None (also when no
    connection is to be had, or the database errs: the ordinary path then answers, or says
    what is wrong)."""
    if database.direct is None:
        return None
    return await database.direct.one_row(sql, params, timeout_s=CONNECTION_WAIT_S)


async def attempt(
    database: Database, check: AssertionCheck, *, keys: DevicePublicKeys, posture_digest: str
) -> QuickCheckin | None:
    """The check-in recorded in one statement, or None (nothing written) when the ordinary
    path must run."""
    if database.direct is None:
        return None
    verified = _verified(check, keys)
    if verified is None:
        return None
    # The names are not the tables' columns: an UPDATE takes parameters named after its
    # table's columns as values to set.
    params = {
        **_CONSTANTS,
        "checkin_device_id": verified.device_id,
        "checkin_digest": posture_digest,
        "checkin_now": check.now,
        "checkin_serial": verified.serial_number,
        "checkin_jti": verified.jti,
        "checkin_expires_at": verified.keep_until,
    }
    row = await _one_row(database, _SQL, params)
    if row is None:
        return None
    policy_version, compliance_status, container_key_id, findings, certificate_pem = row
    return QuickCheckin(
        device_id=verified.device_id,
        policy_version=policy_version,
        compliance_status=compliance_status,
        container_key_id=container_key_id,
        findings=findings,
        certificate_pem=certificate_pem,
    )


async def attempt_poll(
    database: Database, check: AssertionCheck, *, keys: DevicePublicKeys
) -> uuid.UUID | None:
    """An idle poll authenticated in one statement: the device's id when it is owed no
    command, else None (nothing written) and the ordinary path runs."""
    if database.direct is None:
        return None
    verified = _verified(check, keys)
    if verified is None:
        return None
    params = {
        **_POLL_CONSTANTS,
        "poll_device_id": verified.device_id,
        "poll_serial": verified.serial_number,
        "poll_jti": verified.jti,
        "poll_expires_at": verified.keep_until,
    }
    row = await _one_row(database, _POLL_SQL, params)
    return verified.device_id if row is not None else None
