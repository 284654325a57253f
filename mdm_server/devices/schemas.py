"""API shapes for device facts, posture, check-in and the fleet inventory."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from mdm_server.validation import CollarNumber, GroupName
from policies.document import AndroidVersion, PackageName
from policies.posture import ManagementMode

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=64)]
SettingPath = Annotated[str, StringConstraints(pattern=r"^[a-z_]+(\.[a-z_]+){1,3}$")]
MAX_APPS_PER_PROFILE = 2000
VersionCode = Annotated[int, Field(ge=0, le=2**63 - 1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


class DeviceFacts(Strict):
    """What a device says about itself at enrolment."""

    serial: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{4,64}$")]
    imei: Annotated[str, StringConstraints(pattern=r"^\d{15}$")] | None = Field(
        default=None, description="15 digits with a valid Luhn check digit; null on Wi-Fi tablets."
    )
    manufacturer: ShortText
    model: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")]
    android_version: AndroidVersion
    sdk: int = Field(ge=1, le=100)
    security_patch: date | None = None
    knox_version: Annotated[str, StringConstraints(max_length=32)] | None = None
    warranty_bit: int = Field(ge=0, le=1)

    @field_validator("imei")
    @classmethod
    def _imei_check_digit(cls, value: str | None) -> str | None:
        if value is not None and not _luhn_ok(value):
            raise ValueError("IMEI check digit is wrong")
        return value


class ScreenLock(Strict):
    secure: bool
    type: Literal["none", "swipe", "pattern", "pin", "password", "biometric", "unknown"] = "unknown"
    length: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="Digits, characters or pattern dots; never the secret.",
    )


class Posture(Strict):
    """A device's posture report. Unknown fields are refused: Tabard collects exactly this list
    and nothing more (the privacy contract). Any field may be absent when the device cannot
    tell; policy evaluation treats absence as unknown, never as compliant."""

    collected_at: datetime | None = None
    model: ShortText | None = None
    android_version: AndroidVersion | None = None
    sdk: int | None = Field(default=None, ge=1, le=100)
    security_patch: date | None = None
    knox_version: Annotated[str, StringConstraints(max_length=32)] | None = None
    warranty_bit: int | None = Field(default=None, ge=0, le=1)
    encrypted: bool | None = None
    screen_lock: ScreenLock | None = None
    usb_debugging: bool | None = None
    developer_options: bool | None = None
    unknown_sources: bool | None = None
    apps: dict[Literal["personal", "work"], list[PackageName]] | None = Field(
        default=None, description=f"Installed packages per profile, at most {MAX_APPS_PER_PROFILE}."
    )
    app_versions: dict[str, dict[PackageName, VersionCode]] | None = Field(
        default=None,
        description="versionCodes of the managed apps on the secure side, as "
        '`{"work": {package: versionCode}}`; never the personal side\'s.',
    )
    management_mode: ManagementMode | None = Field(
        default=None, description="How Tabard manages the device; decides what it can enforce."
    )
    policy_version_applied: int | None = Field(default=None, ge=0)
    policy_unapplied: list[SettingPath] | None = Field(
        default=None,
        max_length=100,
        description="Settings of the policy the device could not apply (dotted paths).",
    )
    outbox_position: int | None = Field(default=None, ge=0)

    @field_validator("apps")
    @classmethod
    def _bounded_app_lists(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        for profile, packages in (value or {}).items():
            if len(packages) > MAX_APPS_PER_PROFILE:
                raise ValueError(f"{profile}: more than {MAX_APPS_PER_PROFILE} packages")
        return value

    @field_validator("app_versions")
    @classmethod
    def _secure_side_versions_only(
        cls, value: dict[str, dict[str, int]] | None
    ) -> dict[str, dict[str, int]] | None:
        others = sorted(set(value or {}) - {"work"})
        if others:
            raise ValueError(
                f"reports {', '.join(others)}: only the secure side's versions ('work') are "
                "collected, never the personal side's"
            )
        if len((value or {}).get("work", {})) > MAX_APPS_PER_PROFILE:
            raise ValueError(f"work: more than {MAX_APPS_PER_PROFILE} packages")
        return value


class CheckinRequest(Strict):
    posture: Posture


class DeviceStanding(BaseModel):
    """The device's compliance as the server last judged it, for its officer's screen."""

    status: str | None = Field(
        default=None,
        description="compliant, in_grace, non_compliant, incompatible or unknown; null before "
        "the device's first evaluation.",
    )
    grace_until: datetime | None = Field(
        default=None, description="When in grace: when the first grace period ends."
    )
    problems: list[str] = Field(
        default_factory=list, description="What is failing, in words (empty when compliant)."
    )


class CheckinResponse(BaseModel):
    commands: list[str] = Field(
        default_factory=list,
        description="Signed command envelopes (JWS), in the order to run them; as from "
        "GET /api/v1/device/commands.",
    )
    policy_version: int | None = None
    checkin_interval_s: int
    container_key_id: uuid.UUID | None = Field(
        default=None,
        description="The device's live container key. A device holding any other key (or any "
        "key, when this is null) must delete its container and cached key: it was shredded.",
    )
    standing: DeviceStanding = Field(default_factory=DeviceStanding)
    certificate: str | None = Field(
        default=None,
        description="The device's newest certificate (PEM), for the key it holds: renewed "
        "before expiry and after the device CA is rotated (docs/device-protocol.md §4).",
    )


class OfficerRef(BaseModel):
    id: uuid.UUID
    username: str
    collar_number: str | None
    division: str | None


class CertificatePublic(BaseModel):
    serial_number: str
    fingerprint_sha256: str
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None
    revocation_reason: str | None


class DevicePublic(BaseModel):
    id: uuid.UUID
    serial: str
    imei: str | None
    manufacturer: str
    model: str
    android_version: str
    sdk: int
    security_patch: date | None
    knox_version: str | None
    warranty_bit: int
    state: str
    group: str
    officer: OfficerRef | None
    enrolled_at: datetime
    last_seen_at: datetime | None
    retired_at: datetime | None
    retired_reason: str | None
    lost_at: datetime | None = Field(
        default=None, description="When its officer reported it lost; null when not lost."
    )
    lost_reported_by: str | None = Field(
        default=None, description="Who reported it lost (a username); null when not lost."
    )
    cloned_at: datetime | None = Field(
        default=None,
        description="When the server found a copy of this device in use (two different events "
        "signed by its key under one sequence number); null when none was found. The secure "
        "side stays shut: re-enrol the officer's handset.",
    )
    compliance: str | None = Field(
        description="compliant, incompatible, in_grace, non_compliant, unknown, or null if "
        "never evaluated; not_applicable for a retired or wiped device."
    )
    policy_version: int | None = Field(description="The policy version the device was last told.")


class DeviceDetail(DevicePublic):
    posture: dict[str, Any] | None
    posture_received_at: datetime | None
    certificates: list[CertificatePublic]


class DevicePage(BaseModel):
    items: list[DevicePublic]
    total: int
    limit: int
    offset: int


class PostureEntry(BaseModel):
    received_at: datetime
    digest: str
    posture: dict[str, Any]


class DeviceAssignment(Strict):
    """Fields left out stay as they are; `"officer": null` unassigns the officer."""

    officer: CollarNumber | None = None
    group: GroupName | None = None


class DeviceRetire(Strict):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


MAX_EVENTS_PER_BATCH = 500


class DeviceEventIn(Strict):
    """One event from the agent's outbox."""

    event_id: uuid.UUID
    seq: int = Field(ge=1, le=2**31 - 1, description="The device's own sequence number, from 1.")
    type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{1,63}$")]
    occurred_at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)


SignedEvent = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$", max_length=32_768
    ),
    Field(description="A JWS (compact) the device signed, its payload an event and `iss`."),
]


class DeviceEventBatch(Strict):
    events: list[SignedEvent] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class EventConflict(BaseModel):
    event_id: uuid.UUID
    seq: int
    problem: str


class DeviceEventsAccepted(BaseModel):
    """What became of a batch. `accepted` and `duplicates` are both safe to drop from the
    outbox. `conflicts` were not kept: another event the device key signed already holds their
    sequence number (a copy of the device is in use); renumber them from `resequence_from`,
    sign them again and send them again."""

    accepted: list[uuid.UUID]
    duplicates: list[uuid.UUID]
    conflicts: list[EventConflict]
    resequence_from: int | None = Field(
        default=None,
        description="With conflicts: the first sequence number free for them. Give the "
        "conflicting events new numbers from here (or above anything the device has used), "
        "keeping their event ids, and send them again.",
    )
    contiguous_seq: int = Field(description="Every event up to this number has arrived.")
    highest_seq: int
    missing: list[tuple[int, int]] = Field(
        description="Ranges of sequence numbers not yet received, first and last inclusive."
    )
