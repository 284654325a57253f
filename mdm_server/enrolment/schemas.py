"""API shapes for enrolment tokens and the enrolment request."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from mdm_server.devices.schemas import DeviceFacts
from mdm_server.validation import CollarNumber, GroupName

TokenStatus = Literal["active", "expired", "exhausted", "revoked"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnrolmentTokenCreate(Strict):
    group: GroupName
    officer: CollarNumber | None = Field(
        default=None, description="Collar number of the officer devices enrolled with it go to."
    )
    uses: int = Field(default=1, ge=1, le=10_000, description="How many devices may enrol with it.")
    expires_in_s: int = Field(default=86_400, ge=60, description="Lifetime in seconds.")
    allow_reenrolment: bool = Field(
        default=False,
        description="Let a device whose serial is already enrolled enrol again; the old record "
        "is retired.",
    )
    label: Annotated[str, StringConstraints(max_length=200)] = ""


class EnrolmentPayload(BaseModel):
    """What the QR code carries, exactly these three keys."""

    server: str
    token: str
    ca_sha256: str


class EnrolmentTokenPublic(BaseModel):
    id: uuid.UUID
    group: str
    officer: str | None = Field(description="Collar number, if the token names an officer.")
    uses_allowed: int
    uses_count: int
    expires_at: datetime
    allow_reenrolment: bool
    label: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    status: TokenStatus


class EnrolmentTokenCreated(EnrolmentTokenPublic):
    token: str = Field(description="The secret. Shown once; the server keeps only a digest.")
    payload: EnrolmentPayload


class EnrolmentTokenList(BaseModel):
    items: list[EnrolmentTokenPublic]


class EnrolmentRequest(Strict):
    token: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    csr: Annotated[str, StringConstraints(min_length=1, max_length=8192)] = Field(
        description="PEM PKCS#10 request for an EC P-256 key."
    )
    facts: DeviceFacts


class EnrolmentResponse(BaseModel):
    device_id: uuid.UUID
    certificate: str
    ca_certificate: str
    audience: str
    checkin_interval_s: int


class CALink(BaseModel):
    """One replacement of the device CA (docs/device-protocol.md §1.1)."""

    generation: int = Field(description="1 for the first rotation, then 2, 3, ...")
    previous_certificate: str = Field(description="The outgoing CA's certificate (PEM).")
    previous_sha256: str = Field(description="SHA-256 of the outgoing CA's certificate (DER).")
    link: str = Field(
        description="A CA certificate for the incoming CA's key and name, issued by the "
        "outgoing CA (PEM); its notBefore is when the outgoing CA stopped issuing."
    )
    certificate: str = Field(description="The incoming CA's self-signed certificate (PEM).")
    sha256: str = Field(description="SHA-256 of the incoming CA's certificate (DER).")


class CAPublic(BaseModel):
    certificate: str = Field(description="The device CA that issues certificates now (PEM).")
    sha256: str = Field(description="SHA-256 of `certificate` (DER), as new QR codes pin it.")
    command_certificate: str = Field(
        description="The certificate, issued by this CA, of the key command envelopes are "
        "signed with; trust it only after checking the CA issued it."
    )
    command_handovers: list[str] = Field(
        default_factory=list,
        description="Each replacement of the command-signing key, oldest first: a JWS signed "
        "by the outgoing key naming the incoming certificate (docs/device-protocol.md §8.1). "
        "Follow them from the certificate you hold to `command_certificate`.",
    )
    ca_links: list[CALink] = Field(
        default_factory=list,
        description="Each replacement of the device CA, oldest first: follow them from the CA "
        "you pinned to `certificate` (docs/device-protocol.md §1.1).",
    )
