"""Enrolment tokens (IT) and the device enrolment endpoint."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status

from mdm_server import metrics
from mdm_server.deps import ContextDep, ITAdmin, PublicAccess, client_ip, request_id
from mdm_server.enrolment import service
from mdm_server.enrolment.schemas import (
    CALink,
    CAPublic,
    EnrolmentRequest,
    EnrolmentResponse,
    EnrolmentTokenCreate,
    EnrolmentTokenCreated,
    EnrolmentTokenList,
    EnrolmentTokenPublic,
)
from mdm_server.errors import error_responses

tokens_router = APIRouter(prefix="/api/v1/enrolment-tokens", tags=["enrolment"])
device_router = APIRouter(prefix="/api/v1/device", tags=["device protocol"])
ca_router = APIRouter(prefix="/api/v1", tags=["enrolment"])


@tokens_router.post("", status_code=status.HTTP_201_CREATED)
def create_enrolment_token(
    body: EnrolmentTokenCreate, principal: ITAdmin, context: ContextDep
) -> EnrolmentTokenCreated:
    """Create an enrolment token. The secret and QR payload are in this response only."""
    with context.database.unit_of_work() as session:
        return service.create_token(
            session,
            data=body,
            actor=principal.actor,
            created_by=principal.user_id,
            now=context.clock(),
            settings=context.settings,
            ca=context.ca,
        )


@tokens_router.get("")
def list_enrolment_tokens(
    _: ITAdmin, context: ContextDep, include_inactive: bool = False
) -> EnrolmentTokenList:
    """Enrolment tokens, newest first; only usable ones unless `include_inactive`."""
    with context.database.unit_of_work(write=False) as session:
        items = service.list_tokens(session, include_inactive=include_inactive, now=context.clock())
    return EnrolmentTokenList(items=items)


@tokens_router.get("/{token_id}")
def get_enrolment_token(
    token_id: uuid.UUID, _: ITAdmin, context: ContextDep
) -> EnrolmentTokenPublic:
    """One enrolment token (never its secret)."""
    with context.database.unit_of_work(write=False) as session:
        return service.get_token(session, token_id=token_id, now=context.clock())


@tokens_router.post("/{token_id}/revoke")
def revoke_enrolment_token(
    token_id: uuid.UUID, principal: ITAdmin, context: ContextDep
) -> EnrolmentTokenPublic:
    """Revoke a token so no further device can enrol with it."""
    with context.database.unit_of_work() as session:
        return service.revoke_token(
            session, token_id=token_id, actor=principal.actor, now=context.clock()
        )


@device_router.post(
    "/enrol", status_code=status.HTTP_201_CREATED, responses=error_responses(401, 403, 409)
)
def enrol_device(
    body: EnrolmentRequest, request: Request, context: ContextDep, _: PublicAccess
) -> EnrolmentResponse:
    """Enrol a device with an enrolment token and a CSR for its EC P-256 key.

    Token use, device, certificate and audit event are written in one transaction; any
    refusal leaves nothing behind."""
    with context.database.unit_of_work() as session:
        enrolled = service.enrol(
            session,
            request=body,
            ca=context.ca,
            now=context.clock(),
            settings=context.settings,
            source_ip=client_ip(request),
            request_id=request_id(request),
        )
    metrics.ENROLMENTS.inc()
    return enrolled


@ca_router.get("/ca")
def get_device_ca(context: ContextDep, _: PublicAccess) -> CAPublic:
    """The device CA certificate (PEM) and its SHA-256 fingerprint, as pinned by QR codes, the
    command-signing certificate it issued, the handovers that lead to it, and the links from
    each earlier device CA."""
    signer, handovers = context.command_signer.published()
    ca = context.ca  # after the signer, so the CA that issued it is this one or older
    links = context.cas.published_links()  # after the CA, so they reach it
    return CAPublic(
        certificate=ca.certificate_pem,
        sha256=ca.fingerprint_sha256,
        command_certificate=signer,
        command_handovers=handovers,
        ca_links=[CALink.model_validate(link) for link in links],
    )
