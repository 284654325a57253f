"""Errors the agent reports to the person at the device or the CLI."""

from __future__ import annotations

from tabard.words import describe_detail


class AgentError(Exception):
    """Something the agent cannot do, with a message saying what to do about it."""


class NotEnrolledError(AgentError):
    pass


class UnreachableError(AgentError):
    """The server could not be reached (no network, server down): the offline case."""


class RefusedError(AgentError):
    """The agent itself refuses (a local check failed); `code` names the reason."""

    def __init__(self, code: str, message: str, detail: object = None) -> None:
        self.code = code
        self.detail = detail
        super().__init__(message)


class PinMismatchError(AgentError):
    """The server's CA is not the one the enrolment QR code pinned."""


class ServerError(AgentError):
    """The server refused a request; carries its `{"error", "detail"}` body."""

    def __init__(self, status: int, code: str, detail: object) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        super().__init__(f"server refused ({status} {code}): {describe_detail(detail)}")


class ServerUnavailableError(ServerError, UnreachableError):
    """The server (or a proxy before it) answered 5xx: as good as unreachable."""


class UnsupportedError(AgentError):
    """This platform cannot do that on this device; the message says why."""
