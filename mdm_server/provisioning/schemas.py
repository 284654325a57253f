"""What `tabard provision` reports to the server as it works."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints

from mdm_server.validation import CollarNumber, GroupName

Short = Annotated[str, StringConstraints(max_length=64, pattern=r"^[A-Za-z0-9_.:@/-]*$")]
Text = Annotated[str, StringConstraints(max_length=2000)]
MAX_EVENTS = 500


class ProvisioningEvent(BaseModel):
    """One thing that happened in a provisioning run."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["run_started", "device_started", "step", "device_finished", "run_finished"]
    run_id: uuid.UUID
    device: Short | None = Field(default=None, description="The manifest's target or usb:SERIAL.")
    serial: Short | None = Field(default=None, description="The serial the device reported.")
    model: Short | None = None
    step: StrictInt | None = Field(default=None, ge=1, le=100)
    step_key: Short | None = None
    outcome: Short | None = Field(
        default=None, description="A step's outcome, or a device's or run's status."
    )
    mode: Short | None = None
    dry_run: StrictBool = False
    devices: StrictInt | None = Field(default=None, ge=0, le=100_000)
    ms: StrictInt | None = Field(default=None, ge=0)
    message: Text = ""


class ProvisioningEventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[ProvisioningEvent] = Field(min_length=1, max_length=MAX_EVENTS)


class ProvisioningEventsRecorded(BaseModel):
    recorded: int


class RunSummary(BaseModel):
    """A provisioning run: who began it, when, and its devices counted by outcome."""

    run_id: uuid.UUID
    started_at: datetime
    started_by: str
    devices: int = Field(description="Devices in the run's manifest (0 if not said).")
    dry_run: bool = False
    finished_at: datetime | None = None
    outcome: str | None = Field(default=None, description="complete or incomplete; null: running.")
    results: dict[str, int] = Field(default_factory=dict, description="Devices per outcome.")


class StepRun(BaseModel):
    step: int
    key: str
    outcome: str
    message: str = ""
    ms: int | None = None


class DeviceRun(BaseModel):
    device: str
    serial: str | None = None
    model: str | None = None
    mode: str | None = None
    outcome: str | None = None
    message: str = ""
    finished_at: datetime | None = None
    steps: list[StepRun] = Field(default_factory=list)


class RunDetail(RunSummary):
    device_runs: list[DeviceRun]


class ProvisioningCheck(BaseModel):
    """What a provisioning run will ask of the server, checked before any device is touched."""

    model_config = ConfigDict(extra="forbid")

    officers: list[CollarNumber] = Field(
        default_factory=list, max_length=100_000, description="The manifest's collar numbers."
    )
    groups: list[GroupName] = Field(
        default_factory=list, max_length=10_000, description="The manifest's groups."
    )
    token: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = Field(
        default=None,
        description="The enrolment payload's token: checked, never stored, never recorded.",
    )
    devices: StrictInt = Field(
        default=0, ge=0, le=100_000, description="Devices the run will enrol with the token."
    )


class CheckProblem(BaseModel):
    """One thing the run would fail on."""

    field: Literal["officer", "group", "token"]
    value: str | None = Field(description="The collar number or group; null for the token.")
    problem: str


class ProvisioningCheckResult(BaseModel):
    """Every problem at once; none means the run may start."""

    problems: list[CheckProblem]
    token_group: str | None = Field(default=None, description="The group the token enrols into.")
    token_uses_left: int | None = None
