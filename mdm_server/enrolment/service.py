"""Rules for enrolment tokens and for enrolling a device. Never commits: the token's use, the
device, its certificate and the audit event are written together or not at all."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlmodel import Session

from mdm_server.audit.service import SCHEDULER, Actor, record
from mdm_server.config import Settings
from mdm_server.crypto import secrets
from mdm_server.crypto.ca import DeviceCA, parse_device_csr
from mdm_server.devices import repository as devices_repository
from mdm_server.devices import service as devices_service
from mdm_server.devices.models import Device, DeviceCertificate
from mdm_server.enrolment import repository
from mdm_server.enrolment.models import EnrolmentToken
from mdm_server.enrolment.schemas import (
    EnrolmentPayload,
    EnrolmentRequest,
    EnrolmentResponse,
    EnrolmentTokenCreate,
    EnrolmentTokenCreated,
    EnrolmentTokenPublic,
    TokenStatus,
)
from mdm_server.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)


def record_expired_tokens(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Put on record, audited, each token that ran out unrevoked, with how much it was used:
    IT can see a batch of devices that never came, and an auditor when a token stopped."""
    tokens = repository.newly_expired(session, now=now, limit=limit)
    for token in tokens:
        token.expired_at = now
        session.add(token)
        record(
            session,
            actor=SCHEDULER,
            action="enrolment.token_expired",
            now=now,
            target_type="enrolment_token",
            target_id=token.id,
            detail={
                "label": token.label,
                "group": token.group_name,
                "uses": token.uses_count,
                "uses_allowed": token.uses_allowed,
                "expires_at": token.expires_at.isoformat(),
            },
        )
    return len(tokens)


def token_status(token: EnrolmentToken, *, now: datetime) -> TokenStatus:
    if token.revoked_at is not None:
        return "revoked"
    if token.uses_count >= token.uses_allowed:
        return "exhausted"
    if token.expires_at <= now:
        return "expired"
    return "active"


def to_public(
    token: EnrolmentToken, *, created_by: str, officer: str | None, now: datetime
) -> EnrolmentTokenPublic:
    return EnrolmentTokenPublic(
        id=token.id,
        group=token.group_name,
        officer=officer,
        uses_allowed=token.uses_allowed,
        uses_count=token.uses_count,
        expires_at=token.expires_at,
        allow_reenrolment=token.allow_reenrolment,
        label=token.label,
        created_at=token.created_at,
        created_by=created_by,
        revoked_at=token.revoked_at,
        status=token_status(token, now=now),
    )


def create_token(
    session: Session,
    *,
    data: EnrolmentTokenCreate,
    actor: Actor,
    created_by: uuid.UUID,
    now: datetime,
    settings: Settings,
    ca: DeviceCA,
) -> EnrolmentTokenCreated:
    """A new token. Its secret is returned here once and never again."""
    if data.expires_in_s > settings.enrolment_token_max_ttl_s:
        raise InvalidRequestError(
            f"expires_in_s must be at most {settings.enrolment_token_max_ttl_s} seconds"
        )
    officer = devices_service.officer_by_collar(session, data.officer) if data.officer else None
    secret = secrets.new_secret()
    token = EnrolmentToken(
        secret_digest=secrets.digest(secret),
        group_name=data.group,
        officer_id=officer.id if officer else None,
        uses_allowed=data.uses,
        expires_at=now + timedelta(seconds=data.expires_in_s),
        allow_reenrolment=data.allow_reenrolment,
        label=data.label,
        created_by=created_by,
        created_at=now,
    )
    session.add(token)
    record(
        session,
        actor=actor,
        action="enrolment_token.created",
        now=now,
        target_type="enrolment_token",
        target_id=token.id,
        detail={
            "group": token.group_name,
            "officer_collar": data.officer,
            "uses": token.uses_allowed,
            "expires_at": token.expires_at.isoformat(),
            "allow_reenrolment": token.allow_reenrolment,
            "label": token.label,
        },
    )
    public = to_public(token, created_by=actor.name or "", officer=data.officer, now=now)
    payload = EnrolmentPayload(
        server=settings.public_url, token=secret, ca_sha256=ca.fingerprint_sha256
    )
    return EnrolmentTokenCreated(**public.model_dump(), token=secret, payload=payload)


def list_tokens(
    session: Session, *, include_inactive: bool, now: datetime
) -> list[EnrolmentTokenPublic]:
    rows = repository.list_tokens(session, usable_at=None if include_inactive else now)
    return [
        to_public(token, created_by=creator, officer=officer, now=now)
        for token, creator, officer in rows
    ]


def get_token(session: Session, *, token_id: uuid.UUID, now: datetime) -> EnrolmentTokenPublic:
    row = repository.get_token(session, token_id)
    if row is None:
        raise NotFoundError(f"no enrolment token {token_id}", code="token_not_found")
    token, creator, officer = row
    return to_public(token, created_by=creator, officer=officer, now=now)


def revoke_token(
    session: Session, *, token_id: uuid.UUID, actor: Actor, now: datetime
) -> EnrolmentTokenPublic:
    """Stop a token being used again. Devices it already enrolled are unaffected."""
    row = repository.get_token(session, token_id)
    if row is None:
        raise NotFoundError(f"no enrolment token {token_id}", code="token_not_found")
    token, creator, officer = row
    if token.revoked_at is None:
        token.revoked_at = now
        session.add(token)
        record(
            session,
            actor=actor,
            action="enrolment_token.revoked",
            now=now,
            target_type="enrolment_token",
            target_id=token.id,
            detail={"uses_count": token.uses_count},
        )
    return to_public(token, created_by=creator, officer=officer, now=now)


def usable_token(session: Session, secret: str, *, now: datetime) -> EnrolmentToken:
    """The token for `secret`, if it may enrol another device now.

    The lookup is by SHA-256 digest, so its timing reveals nothing about the secret, and the
    final comparison is constant-time."""
    token = repository.token_by_digest(session, secrets.digest(secret))
    if token is None or not secrets.matches(secret, token.secret_digest):
        raise AuthenticationError("enrolment token not recognised", code="invalid_enrolment_token")
    status = token_status(token, now=now)
    if status != "active":
        explanations = {
            "revoked": "was revoked",
            "exhausted": f"has been used {token.uses_allowed} time(s) already",
            "expired": "has expired",
        }
        raise PermissionDeniedError(
            f"enrolment token {explanations[status]}; ask IT for a new one",
            code=f"enrolment_token_{status}",
        )
    return token


def enrol(
    session: Session,
    *,
    request: EnrolmentRequest,
    ca: DeviceCA,
    now: datetime,
    settings: Settings,
    source_ip: str | None,
    request_id: str | None,
) -> EnrolmentResponse:
    """Enrol a device: check the token, issue its certificate, create it, audit it."""
    csr = parse_device_csr(request.csr)
    token = usable_token(session, request.token, now=now)
    facts = request.facts
    existing = devices_repository.active_by_serial(session, facts.serial)
    device = Device(
        serial=facts.serial,
        imei=facts.imei,
        manufacturer=facts.manufacturer,
        model=facts.model,
        android_version=facts.android_version,
        sdk=facts.sdk,
        security_patch=facts.security_patch,
        knox_version=facts.knox_version,
        warranty_bit=facts.warranty_bit,
        group_name=token.group_name,
        officer_id=token.officer_id,
        enrolment_token_id=token.id,
        enrolled_at=now,
    )
    actor = devices_service.device_actor(
        device.id, device.serial, source_ip=source_ip, request_id=request_id
    )
    if existing is not None:
        if not token.allow_reenrolment:
            raise ConflictError(
                f"a device with serial {facts.serial} is already enrolled ({existing.id}); "
                "retire it first, or enrol with a token that allows re-enrolment",
                code="serial_already_enrolled",
            )
        devices_service.retire(
            session, device=existing, reason=f"re-enrolled as {device.id}", actor=actor, now=now
        )
        session.flush()
    session.add(device)
    session.flush()
    issued = ca.issue(csr, device_id=device.id, now=now, days=settings.device_certificate_days)
    session.add(DeviceCertificate.issued(device.id, issued, now=now))
    token.uses_count += 1
    session.add(token)
    record(
        session,
        actor=actor,
        action="device.enrolled",
        now=now,
        target_type="device",
        target_id=device.id,
        detail={
            "serial": facts.serial,
            "model": facts.model,
            "android_version": facts.android_version,
            "group": token.group_name,
            "officer_id": str(token.officer_id) if token.officer_id else None,
            "enrolment_token_id": str(token.id),
            "certificate_serial": issued.serial_number,
            "replaced_device_id": str(existing.id) if existing else None,
        },
    )
    return EnrolmentResponse(
        device_id=device.id,
        certificate=issued.pem,
        ca_certificate=ca.certificate_pem,
        audience=settings.device_audience,
        checkin_interval_s=settings.checkin_interval_s,
    )
