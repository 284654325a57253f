"""The app catalogue: each app with its pinned signer, its versions (the APK bytes live in
the APK store, named by SHA-256), and the signer changes two IT administrators decide."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from mdm_server.types import JSONDocument, UTCDateTime


class App(SQLModel, table=True):
    """An app, by package name. The first upload pins its signer: every later version must
    carry the same certificate until two IT administrators change it."""

    __tablename__ = "apps"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    package: str = Field(max_length=255, unique=True)
    label: str = Field(max_length=128)
    signer_sha256: str = Field(max_length=64)
    signer_subject: str = Field(max_length=1024)
    signer_not_after: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=128)


class VersionState(StrEnum):
    available = "available"  # signed by the pinned key: may be released
    held = "held"  # signed by another key, waiting on a signer change
    refused = "refused"  # its signer change was refused; kept for the record


class AppVersion(SQLModel, table=True):
    """One uploaded version of an app: its manifest facts, its signer and where its bytes
    are. Never changed once written, but for its state."""

    __tablename__ = "app_versions"
    __table_args__ = (UniqueConstraint("package", "version_code"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    package: str = Field(max_length=255, foreign_key="apps.package")
    version_code: int = Field(sa_type=BigInteger)
    version_name: str = Field(max_length=128)
    min_sdk: int
    target_sdk: int | None = None
    admin_receivers: list[str] = Field(default_factory=list, sa_type=JSONDocument)
    sha256: str = Field(max_length=64, index=True)
    size: int = Field(sa_type=BigInteger)
    signer_sha256: str = Field(max_length=64)
    schemes: list[str] = Field(default_factory=list, sa_type=JSONDocument)
    state: str = Field(default=VersionState.available, max_length=16)
    uploaded_at: datetime = Field(sa_type=UTCDateTime)
    uploaded_by: str = Field(max_length=128)


class SignerChangeState(StrEnum):
    pending = "pending"  # waiting for one IT administrator to accept and another to approve
    approved = "approved"  # the pin changed
    refused = "refused"  # the pin stayed; the version waiting on it was refused


class AppSignerChange(SQLModel, table=True):
    """A request to pin a new signer, made by an upload signed by another key. One IT
    administrator accepts the new certificate, a different one approves it; only then does
    the pin change. At most one is pending per app."""

    __tablename__ = "app_signer_changes"
    __table_args__ = (
        Index(
            "uq_app_signer_changes_pending",
            "package",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    package: str = Field(max_length=255, foreign_key="apps.package", index=True)
    old_signer_sha256: str = Field(max_length=64)
    new_signer_sha256: str = Field(max_length=64)
    new_signer_subject: str = Field(max_length=1024)
    new_signer_not_after: datetime = Field(sa_type=UTCDateTime)
    version_code: int = Field(sa_type=BigInteger)  # the version waiting on it
    state: str = Field(default=SignerChangeState.pending, max_length=16)
    requested_at: datetime = Field(sa_type=UTCDateTime)
    requested_by: str = Field(max_length=128)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    accepted_by: str | None = Field(default=None, max_length=128)
    accepted_by_id: uuid.UUID | None = None
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    approved_by: str | None = Field(default=None, max_length=128)
    approved_by_id: uuid.UUID | None = None
    refused_by: str | None = Field(default=None, max_length=128)
