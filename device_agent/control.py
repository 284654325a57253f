"""Talking to a running agent over its Unix socket, as the CLI and the one-button UI do."""

from __future__ import annotations

import json
import socket
from typing import Any

from device_agent.daemon import SOCKET_FILE
from device_agent.errors import AgentError, RefusedError
from device_agent.state import AgentState

TIMEOUT_S = 60.0


class AgentAnswerError(RefusedError):
    """The agent (or the server through it) refused; `code` names the reason."""


def call(state: AgentState, op: str, **arguments: Any) -> dict[str, Any]:
    """One request to the agent for `state`; its result, or AgentAnswerError."""
    path = state.path(SOCKET_FILE)
    if not path.exists():
        raise AgentError(
            f"no agent is running for {state.directory}; start it with "
            f"`tabard agent --state {state.directory} run`"
        )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(TIMEOUT_S)
        try:
            connection.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            raise AgentError(
                f"the agent for {state.directory} is not running (stale socket); start it again"
            ) from None
        connection.sendall(json.dumps({"op": op, **arguments}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
    try:
        answer = json.loads(data)
    except json.JSONDecodeError:
        raise AgentError("the agent closed the connection without answering") from None
    if not answer.get("ok"):
        raise AgentAnswerError(
            str(answer.get("error")), str(answer.get("message")), answer.get("detail")
        )
    result = answer["result"]
    assert isinstance(result, dict)
    return result
