"""How provisioning hands the enrolment payload to the agent on the device, and how the agent
finds it: an explicit broadcast, sent as the shell to user 0, to the agent's enrolment
receiver (docs/provisioning.md, "Handing over enrolment").

    am broadcast --user 0 -a uk.police.tabard.action.ENROL \\
        -n uk.police.tabard.agent/.EnrolmentReceiver --es payload <base64url of the QR JSON> \\
        [--es officer COLLAR] [--es group GROUP]

The payload travels base64url-encoded so no shell quoting can change it."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from device_agent.errors import AgentError

AGENT_PACKAGE = "uk.police.tabard.agent"
ADMIN_RECEIVER = f"{AGENT_PACKAGE}/.Admin"
ENROLMENT_RECEIVER = f"{AGENT_PACKAGE}/.EnrolmentReceiver"
ENROL_ACTION = "uk.police.tabard.action.ENROL"


@dataclass(frozen=True)
class Handover:
    """What the enrolment receiver was given."""

    payload: str  # the QR payload's JSON text
    officer: str | None = None
    group: str | None = None


def encode(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode(text: str) -> str:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise AgentError("the handed-over enrolment payload is not base64url text") from None


def broadcast_command(handover: Handover) -> str:
    """The shell command that hands `handover` to the agent."""
    extras = [f"--es payload {encode(handover.payload)}"]
    if handover.officer:
        extras.append(f"--es officer {handover.officer}")
    if handover.group:
        extras.append(f"--es group {handover.group}")
    return f"am broadcast --user 0 -a {ENROL_ACTION} -n {ENROLMENT_RECEIVER} " + " ".join(extras)
