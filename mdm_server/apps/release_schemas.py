"""The shapes of releases in the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from mdm_server.commands.catalogue import PACKAGE_NAME

Name = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]


class StageTarget(BaseModel):
    """Which devices a stage draws from: named devices, groups, divisions, or the whole fleet
    (exactly one of them)."""

    model_config = ConfigDict(extra="forbid")

    devices: list[Annotated[str, StringConstraints(min_length=4, max_length=64)]] | None = None
    groups: list[Name] | None = None
    divisions: list[Name] | None = None
    fleet: Literal[True] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> StageTarget:
        given = [n for n in ("devices", "groups", "divisions", "fleet") if getattr(self, n)]
        if len(given) != 1:
            raise ValueError("name exactly one of devices, groups, divisions or fleet")
        return self

    def describe(self) -> str:
        """The target in words: `fleet`, `groups north, south`, `2 devices`."""
        if self.fleet:
            return "the fleet"
        if self.devices:
            return f"{len(self.devices)} named device{'s' if len(self.devices) != 1 else ''}"
        kind, names = ("groups", self.groups) if self.groups else ("divisions", self.divisions)
        return f"{kind} {', '.join(names or [])}"


class ReleaseStage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    target: StageTarget
    percent: Annotated[int, Field(ge=1, le=100)] = 100


class ReleaseCreate(BaseModel):
    """A version of the app, and the stages it goes out in, in order."""

    model_config = ConfigDict(extra="forbid")

    package: Annotated[str, StringConstraints(pattern=PACKAGE_NAME, max_length=255)]
    version_code: Annotated[int, Field(ge=1)]
    stages: Annotated[list[ReleaseStage], Field(min_length=1, max_length=12)]
    profile: Literal["work", "personal"] = "work"
    failure_threshold_pct: Annotated[float, Field(ge=0, le=100)] | None = Field(
        default=None,
        description="Halt when more than this share of a stage's installs fail "
        "(TABARD_RELEASE_FAILURE_THRESHOLD_PCT when left out).",
    )
    widen_every_minutes: Annotated[int, Field(ge=1, le=60 * 24 * 30)] | None = Field(
        default=None,
        description="Move to the next stage this long after the last one began, unless "
        "halted; left out, stages are widened by hand.",
    )


class HaltRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class ReleaseDevicePublic(BaseModel):
    device_id: uuid.UUID
    serial: str
    state: str  # installed, pending, failed, cancelled
    reason: str | None = None  # why it failed, in Android's or Tabard's code
    version_code: int | None = None  # what the device said it installed
    rollback: str | None = None  # the rollback's state, where one was sent
    rollback_reason: str | None = None


class StageProgress(BaseModel):
    index: int
    name: str
    target: str
    percent: int
    state: Literal["done", "running", "waiting"]
    installed: int
    pending: int
    failed: int
    cancelled: int
    devices: list[ReleaseDevicePublic]


class ReleasePublic(BaseModel):
    id: uuid.UUID
    package: str
    version_code: int
    previous_version_code: int | None
    profile: str
    state: str
    stage: int
    stage_count: int
    failure_threshold_pct: float
    widen_every_minutes: int | None
    created_at: datetime
    created_by: str
    halted_at: datetime | None
    halted_by: str | None
    halt_reason: str | None
    rolled_back_at: datetime | None


class ReleaseDetail(ReleasePublic):
    stages: list[StageProgress]
