"""API shapes for the app catalogue."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

SHORT_DIGEST = 16  # hex digits of a SHA-256 shown where the whole would not fit


def short_digest(sha256: str) -> str:
    """A SHA-256 as lists show it: its first 16 hex digits (64 bits)."""
    return sha256[:SHORT_DIGEST]


class SignerPublic(BaseModel):
    """A signing certificate, by the SHA-256 of its DER encoding (as `apksigner verify
    --print-certs` prints it)."""

    sha256: str
    short: str = Field(description="The first 16 hex digits of `sha256`, as lists show it.")
    subject: str
    not_after: datetime


class AppVersionPublic(BaseModel):
    package: str
    version_code: int
    version_name: str
    min_sdk: int
    target_sdk: int | None
    admin_receivers: list[str]
    sha256: str
    size: int
    signer_sha256: str
    schemes: list[str]
    state: str = Field(
        description="available (may be released), held (waiting on a signer change) or "
        "refused (its signer change was refused)."
    )
    uploaded_at: datetime
    uploaded_by: str


class SignerChangePublic(BaseModel):
    id: uuid.UUID
    package: str
    state: str = Field(description="pending, approved or refused.")
    old_signer_sha256: str
    new_signer: SignerPublic
    version_code: int = Field(description="The version waiting on this change.")
    requested_at: datetime
    requested_by: str
    accepted_at: datetime | None
    accepted_by: str | None
    decided_at: datetime | None
    approved_by: str | None
    refused_by: str | None


class AppSummary(BaseModel):
    package: str
    label: str
    signer: SignerPublic
    versions: int
    latest_version_code: int | None = Field(description="The newest available version.")
    latest_version_name: str | None
    signer_change_pending: bool
    created_at: datetime
    created_by: str


class AppDetail(AppSummary):
    """An app with every version (newest first) and every signer change (newest first)."""

    version_list: list[AppVersionPublic]
    signer_changes: list[SignerChangePublic]


class UploadResult(BaseModel):
    """What an upload stored: the version, whether it is new (201) or was there already with
    the same bytes (200), and whether this upload pinned the app's signer."""

    package: str
    label: str
    created: bool
    pinned_signer: bool
    signer: SignerPublic
    version: AppVersionPublic
