"""API shapes for PINs, secure sessions, container keys and police transactions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from mdm_server.validation import CollarNumber, PersonName

Pin = Annotated[str, StringConstraints(min_length=1, max_length=64)]
IncidentReference = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9/-]{2,31}$"),
    Field(description="An incident or log reference such as INC-20261121-0042."),
]
Name = PersonName
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Registration = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9 ]{2,10}$"),
    Field(description="A vehicle registration mark such as AB12 CDE."),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PinSet(Strict):
    pin: Pin


class PinStatus(BaseModel):
    collar_number: str
    must_change: bool
    failed_attempts: int
    locked_until: datetime | None
    set_at: datetime


class SecureSessionOpen(Strict):
    """What the gate sends when the officer presses the button."""

    collar_number: CollarNumber
    pin: Pin
    new_pin: Pin | None = Field(
        default=None, description="Required when the PIN was set by IT and must be changed."
    )
    acknowledge_policy_text_version: Annotated[str, StringConstraints(max_length=32)] | None = (
        Field(
            default=None,
            description="The appropriate-use policy text version the officer has just read "
            "and accepted.",
        )
    )


class WrappedKey(BaseModel):
    """A container key encrypted to the device's key (docs/device-protocol.md §6.2)."""

    alg: str
    key_id: uuid.UUID
    epk: str
    nonce: str
    ciphertext: str


class OfflineAllowance(BaseModel):
    allowed: bool
    until: datetime | None
    pin_max_failed_attempts: int


class OfficerOnDevice(BaseModel):
    collar_number: str
    display_name: str


class SecureSessionOpened(BaseModel):
    session_id: uuid.UUID
    session_token: str
    officer: OfficerOnDevice
    started_at: datetime
    expires_at: datetime
    inactivity_lock_s: int
    lock_on_switch_to_personal: bool
    container_key: WrappedKey
    offline: OfflineAllowance
    policy_text_version: str | None


EndReason = Literal["leave", "inactivity", "max_length", "locked", "switched_to_personal"]


class SecureSessionEnd(Strict):
    reason: EndReason = "leave"


class SecureSessionEnded(BaseModel):
    session_id: uuid.UUID
    ended_at: datetime
    end_reason: str


class ContainerWipe(Strict):
    reason: Annotated[str, StringConstraints(min_length=3, max_length=200)]


class ContainerKeyPublic(BaseModel):
    id: uuid.UUID
    created_at: datetime
    destroyed_at: datetime | None
    destroyed_reason: str | None
    destroyed_by: str | None


class ContainerWiped(BaseModel):
    device_id: uuid.UUID
    destroyed: ContainerKeyPublic | None
    detail: str
    command_id: uuid.UUID | None = Field(
        default=None,
        description="The wipe_secure_side command telling the device to delete its container "
        "(none for a device no longer active).",
    )


class JustificationAnswer(Strict):
    answer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=2000)]


class JustificationPublic(BaseModel):
    id: uuid.UUID
    transaction_id: uuid.UUID
    asked_at: datetime
    question: str
    answered_at: datetime | None
    answer: str | None


class AcknowledgementPublic(BaseModel):
    text_version: str
    text_sha256: str
    device_id: uuid.UUID | None
    acknowledged_at: datetime


class JustificationsPending(BaseModel):
    items: list[JustificationPublic]


class MyDevice(BaseModel):
    id: uuid.UUID
    serial: str
    model: str
    android_version: str
    state: str
    compliance: str | None
    last_seen_at: datetime | None
    lost_at: datetime | None


class MyPolicyText(BaseModel):
    version: str
    text: str


class MyDevices(BaseModel):
    """An officer's own view: devices, the appropriate-use text in force on the first, and
    whether (and when) they acknowledged it."""

    devices: list[MyDevice]
    policy: MyPolicyText | None
    policy_acknowledged: bool
    acknowledgements: list[AcknowledgementPublic]


class MyEvent(BaseModel):
    """One event of an officer's own record, as the officer is shown it: what they did, never
    who else looked (docs/appropriate-use.md, "What an officer sees")."""

    id: uuid.UUID = Field(description="The event's id in the audit log.")
    time: datetime = Field(description="When the server recorded it.")
    on_device_at: datetime | None = Field(
        default=None,
        description="When it happened on the device, for work the device recorded and sent "
        "later (offline); null for what the server recorded as it happened.",
    )
    action: str
    what: str = Field(description="The action in words.")
    device_serial: str | None = None
    purpose: str | None = None
    incident_reference: str | None = None
    outcome: str | None = None
    reference: str | None = Field(default=None, description="A filed report's reference.")
    reason: str | None = Field(default=None, description="Why a session ended or was refused.")
    policy_text_version: str | None = None
    transaction_id: str | None = Field(
        default=None, description="The transaction a justification request is about."
    )
    answer: str | None = Field(default=None, description="The justification given.")
    note: str | None = Field(default=None, description="A lost report's note.")
    device_record_id: uuid.UUID | None = Field(
        default=None,
        description="The device's own record of the same entry or exit (its event id), "
        "when the server recorded it too: one action, listed once.",
    )


class MyUsage(BaseModel):
    events: list[MyEvent] = Field(description="Newest first.")
    next_before: uuid.UUID | None = Field(
        description="Pass as `before` for the next (older) page; null on the last."
    )
