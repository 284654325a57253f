"""Releases: one catalogue version put on a track of stages (a pilot, then chosen groups or
divisions, then the fleet, each a share of its devices), with the devices each stage chose
and the install command each was sent. What became of a device is its command's state."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, UniqueConstraint
from sqlmodel import Field, SQLModel

from mdm_server.types import JSONDocument, UTCDateTime


class ReleaseState(StrEnum):
    running = "running"  # its current stage's devices are being sent the version
    halted = "halted"  # stopped, by hand or by its failure threshold; queued installs cancelled
    finished = "finished"  # every stage has run
    rolled_back = "rolled_back"  # devices that took it were sent the previous version back


class AppRelease(SQLModel, table=True):
    """A version on its way to the fleet."""

    __tablename__ = "app_releases"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    package: str = Field(max_length=255, index=True)
    version_code: int = Field(sa_type=BigInteger)
    sha256: str = Field(max_length=64)
    size: int = Field(sa_type=BigInteger)
    profile: str = Field(default="work", max_length=16)
    # What a rollback reinstalls: the version the last release before this one put out.
    previous_version_code: int | None = Field(default=None, sa_type=BigInteger)
    state: str = Field(default=ReleaseState.running, max_length=16, index=True)
    stage: int = 0  # the stage now running (an index into `stages`)
    stages: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONDocument)
    failure_threshold_pct: float
    widen_every_s: int | None = None  # None: widened by hand only
    stage_started_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=128)
    halted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    halted_by: str | None = Field(default=None, max_length=128)
    halt_reason: str | None = Field(default=None, max_length=500)
    rolled_back_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Failures before the last resume were seen by whoever resumed it: they do not halt it again.
    resumed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AppReleaseDevice(SQLModel, table=True):
    """One device a release chose, at which stage, and the commands it was sent: the install,
    and after a rollback the reinstall of the previous version."""

    __tablename__ = "app_release_devices"
    __table_args__ = (UniqueConstraint("release_id", "device_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    release_id: uuid.UUID = Field(foreign_key="app_releases.id", index=True)
    device_id: uuid.UUID = Field(foreign_key="devices.id")
    stage: int
    command_id: uuid.UUID | None = Field(default=None, foreign_key="commands.id", index=True)
    rollback_command_id: uuid.UUID | None = Field(default=None, foreign_key="commands.id")
    chosen_at: datetime = Field(sa_type=UTCDateTime)
