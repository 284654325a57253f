"""Check-in (DESIGN.md flow 3), device side: collect posture, send it, keep the interval."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from device_agent.client import ServerClient
from device_agent.platform.base import Platform
from device_agent.platform.factory import reopen_platform
from device_agent.state import ENROLMENT_FILE, PLATFORM_FILE, AgentState, EnrolmentRecord


def load_platform(state: AgentState) -> Platform:
    return reopen_platform(state.read_json(PLATFORM_FILE), state.directory)


async def check_in(
    *,
    state: AgentState,
    platform: Platform | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, Any]:
    """Send one posture report; returns the server's answer."""
    record = state.enrolment()
    platform = platform or load_platform(state)
    posture = platform.posture(now=datetime.now(UTC).isoformat())
    async with ServerClient(
        record.server, identity=state.identity(), transport=transport
    ) as client:
        answer = await client.checkin(posture.as_protocol())
    keep_interval(state, record, answer)
    return answer


def keep_interval(
    state: AgentState, record: EnrolmentRecord, answer: dict[str, Any]
) -> EnrolmentRecord:
    """The enrolment record with the check-in interval the server's answer sets, kept."""
    interval = int(answer.get("checkin_interval_s", record.checkin_interval_s))
    if interval == record.checkin_interval_s:
        return record
    changed = replace(record, checkin_interval_s=interval)
    state.write_json(ENROLMENT_FILE, asdict(changed))
    return changed
