"""Errors the agent reports to the person at the device or the CLI."""

from __future__ import annotations


class AgentError(Exception):
    """Something the agent cannot do, with a message saying what to do about it."""


class NotEnrolledError(AgentError):
    pass


class PinMismatchError(AgentError):
    """The server's CA is not the one the enrolment QR code pinned."""


class ServerError(AgentError):
    """The server refused a request; carries its `{"error", "detail"}` body."""

    def __init__(self, status: int, code: str, detail: object) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        super().__init__(f"server refused ({status} {code}): {detail}")
