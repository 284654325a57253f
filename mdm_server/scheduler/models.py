"""One row per scheduled job: when it last ran, where, and what it did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from mdm_server.types import JSONDocument, UTCDateTime


class ScheduledJob(SQLModel, table=True):
    """A job's last run. A worker claims a run by moving `last_started_at` forward in one
    conditional update, so however many workers share the database, each run happens once."""

    __tablename__ = "scheduled_jobs"

    name: str = Field(primary_key=True, max_length=64)
    last_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_worker: str | None = Field(default=None, max_length=128)  # host:pid
    last_result: dict[str, Any] | None = Field(default=None, sa_type=JSONDocument)
    last_error: str | None = Field(default=None, max_length=200)
    runs: int = 0
    # Runs that found nothing to do since the last audited run: those are summed into the
    # next audit event rather than each written, at least hourly.
    quiet_runs: int = 0
    last_audited_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
